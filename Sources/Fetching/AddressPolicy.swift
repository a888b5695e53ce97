import CurlHTTP
import Foundation

/// Which addresses downloads may connect to: public ones always; the others only when
/// `allowPrivate` is set or the URL's host is in `allowedHosts`.
public struct AddressPolicy: Sendable, Equatable {
    /// The verdict on one connection attempt.
    public enum Decision: Sendable, Equatable {
        case allow
        case refuse(AddressCategory)
    }

    /// Open every non-public range (local development, demo, tests).
    public var allowPrivate: Bool
    /// Host names (lowercase) that may resolve to non-public addresses.
    public var allowedHosts: Set<String>

    /// A policy; the default refuses every non-public address.
    public init(allowPrivate: Bool = false, allowedHosts: Set<String> = []) {
        self.allowPrivate = allowPrivate
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]")) })
    }

    /// Decides whether a connection to `address`, made for URL host `host`, may happen.
    public func decide(_ address: IPAddress, host: String) -> Decision {
        let category = address.category
        if category == .publicAddress || allowPrivate { return .allow }
        let normalizedHost = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if allowedHosts.contains(normalizedHost) { return .allow }
        return .refuse(category)
    }
}

extension AddressPolicy: AddressGuard {
    public func refusal(of address: IPAddress, host: String) -> AddressCategory? {
        if case .refuse(let category) = decide(address, host: host) { return category }
        return nil
    }
}
