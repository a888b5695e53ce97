import CurlHTTP
import Fetching
import Testing

struct AddressPolicyTests {
    @Test(arguments: [
        ("127.0.0.1", AddressCategory.loopback), ("127.255.0.9", .loopback), ("::1", .loopback),
        ("10.0.0.1", .privateNetwork), ("172.16.0.1", .privateNetwork), ("172.31.255.255", .privateNetwork),
        ("192.168.1.1", .privateNetwork), ("fc00::1", .privateNetwork), ("fd12:3456::1", .privateNetwork),
        ("169.254.169.254", .linkLocal), ("169.254.0.1", .linkLocal), ("fe80::1", .linkLocal), ("febf::1", .linkLocal),
        ("224.0.0.1", .multicast), ("239.255.255.250", .multicast), ("ff02::1", .multicast),
        ("0.0.0.0", .unspecified), ("0.1.2.3", .unspecified), ("::", .unspecified),
        ("100.64.0.1", .sharedAddressSpace), ("100.127.255.254", .sharedAddressSpace),
        ("255.255.255.255", .reserved), ("240.0.0.1", .reserved), ("192.0.2.1", .reserved), ("2001:db8::1", .reserved),
        // Embedded IPv4 in IPv6 forms must not smuggle a private address through.
        ("::ffff:127.0.0.1", .loopback), ("::ffff:10.1.2.3", .privateNetwork), ("::ffff:169.254.169.254", .linkLocal),
        ("64:ff9b::192.168.0.1", .privateNetwork), ("2002:7f00:1::", .loopback), ("::127.0.0.1", .loopback),
        ("8.8.8.8", .publicAddress), ("1.1.1.1", .publicAddress), ("172.32.0.1", .publicAddress),
        ("100.128.0.1", .publicAddress), ("172.15.255.255", .publicAddress), ("2606:4700::1111", .publicAddress),
        ("::ffff:8.8.8.8", .publicAddress), ("93.184.216.34", .publicAddress),
    ])
    func classifies(_ text: String, _ expected: AddressCategory) throws {
        let address = try #require(IPAddress(text))
        #expect(address.category == expected, "\(text)")
    }

    @Test func refusesNonPublicByDefault() throws {
        let policy = AddressPolicy()
        #expect(policy.decide(try #require(IPAddress("127.0.0.1")), host: "localhost") == .refuse(.loopback))
        #expect(policy.decide(try #require(IPAddress("169.254.169.254")), host: "metadata") == .refuse(.linkLocal))
        #expect(policy.decide(try #require(IPAddress("8.8.8.8")), host: "dns.google") == .allow)
    }

    @Test func allowPrivateOpensEverything() throws {
        let policy = AddressPolicy(allowPrivate: true)
        for text in ["127.0.0.1", "10.0.0.1", "::1", "169.254.169.254"] {
            #expect(policy.decide(try #require(IPAddress(text)), host: "x") == .allow)
        }
    }

    @Test func allowHostOpensOnlyThatHost() throws {
        let policy = AddressPolicy(allowedHosts: ["Images.Local"])
        let address = try #require(IPAddress("192.168.0.10"))
        #expect(policy.decide(address, host: "images.local") == .allow)
        #expect(policy.decide(address, host: "other.local") == .refuse(.privateNetwork))
    }

    @Test func parsesAndPrints() throws {
        #expect(IPAddress("not an ip") == nil)
        #expect(try #require(IPAddress("[::1]")).description == "::1")
        #expect(try #require(IPAddress("10.0.0.7")).description == "10.0.0.7")
    }
}
