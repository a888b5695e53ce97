import Foundation

/// What kind of network an IP address belongs to, for the SSRF policy.
public enum AddressCategory: String, Sendable, Codable, CaseIterable {
    /// A globally routable address: always allowed.
    case publicAddress = "public"
    /// 127.0.0.0/8, ::1.
    case loopback
    /// 10/8, 172.16/12, 192.168/16, fc00::/7 (unique local), fec0::/10 (old site-local).
    case privateNetwork = "private"
    /// 169.254/16 (including the 169.254.169.254 cloud metadata service), fe80::/10.
    case linkLocal = "link-local"
    /// 224/4, ff00::/8.
    case multicast
    /// 0.0.0.0/8, ::.
    case unspecified
    /// 100.64/10, carrier-grade NAT.
    case sharedAddressSpace = "shared (CGNAT)"
    /// 240/4, 255.255.255.255, documentation, benchmarking and other special-purpose ranges.
    case reserved
}

/// An IPv4 or IPv6 address as raw network-order bytes.
public struct IPAddress: Sendable, Equatable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6).
    public let bytes: [UInt8]

    /// An IPv4 address from 4 bytes.
    public init?(v4 bytes: [UInt8]) {
        guard bytes.count == 4 else { return nil }
        self.bytes = bytes
    }

    /// An IPv6 address from 16 bytes.
    public init?(v6 bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses dotted-quad IPv4 or textual IPv6 (brackets allowed).
    public init?(_ text: String) {
        let trimmed = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        var v4 = in_addr()
        if inet_pton(AF_INET, trimmed, &v4) == 1 {
            bytes = withUnsafeBytes(of: v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, trimmed, &v6) == 1 {
            bytes = withUnsafeBytes(of: v6) { Array($0) }
            return
        }
        return nil
    }

    /// Whether this is an IPv4 address.
    public var isV4: Bool { bytes.count == 4 }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isV4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) } != nil
        return ok ? String(cString: buffer) : bytes.map(String.init).joined(separator: ".")
    }

    /// The network this address belongs to.
    public var category: AddressCategory {
        isV4 ? Self.classifyV4(bytes) : Self.classifyV6(bytes)
    }

    private static func classifyV4(_ b: [UInt8]) -> AddressCategory {
        switch (b[0], b[1]) {
        case (0, _): return .unspecified
        case (10, _): return .privateNetwork
        case (100, 64...127): return .sharedAddressSpace
        case (127, _): return .loopback
        case (169, 254): return .linkLocal
        case (172, 16...31): return .privateNetwork
        case (192, 168): return .privateNetwork
        case (198, 18...19): return .reserved  // benchmarking
        case (224...239, _): return .multicast
        case (240...255, _): return .reserved  // includes 255.255.255.255 broadcast
        default: break
        }
        // IETF protocol assignments and the three documentation networks.
        let first24 = (b[0], b[1], b[2])
        if first24 == (192, 0, 0) || first24 == (192, 0, 2) || first24 == (198, 51, 100) || first24 == (203, 0, 113) {
            return .reserved
        }
        return .publicAddress
    }

    private static func classifyV6(_ b: [UInt8]) -> AddressCategory {
        let zeros10 = b[0..<10].allSatisfy { $0 == 0 }
        if zeros10 && b[10] == 0xff && b[11] == 0xff {
            return classifyV4(Array(b[12..<16]))  // IPv4-mapped ::ffff:a.b.c.d
        }
        if b[0..<12].allSatisfy({ $0 == 0 }) {
            if b[12..<15].allSatisfy({ $0 == 0 }) {
                if b[15] == 0 { return .unspecified }
                if b[15] == 1 { return .loopback }
            }
            return classifyV4(Array(b[12..<16]))  // deprecated IPv4-compatible ::a.b.c.d
        }
        // NAT64 64:ff9b::/96 and 6to4 2002::/16 reach an embedded IPv4 address.
        if b[0..<4] == [0x00, 0x64, 0xff, 0x9b] && b[4..<12].allSatisfy({ $0 == 0 }) {
            return classifyV4(Array(b[12..<16]))
        }
        if b[0] == 0x20 && b[1] == 0x02 {
            let embedded = classifyV4(Array(b[2..<6]))
            if embedded != .publicAddress { return embedded }
        }
        if b[0] & 0xfe == 0xfc { return .privateNetwork }
        if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return .linkLocal }
        if b[0] == 0xfe && b[1] & 0xc0 == 0xc0 { return .privateNetwork }
        if b[0] == 0xff { return .multicast }
        if b[0..<4] == [0x20, 0x01, 0x0d, 0xb8] { return .reserved }  // documentation
        if b[0..<8] == [0x01, 0x00, 0, 0, 0, 0, 0, 0] { return .reserved }  // discard-only 100::/64
        return .publicAddress
    }
}
