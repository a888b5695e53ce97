import CCrypto

/// SHA-256 (FIPS 180-4), used to name stored images by their content.
///
/// OpenSSL's libcrypto does the work (SHA-NI / AVX2 assembly, ~1.5 GB/s here): hashing every
/// downloaded image was a fifth of fetch-image's CPU time with a portable Swift version.
/// Incremental: feed bytes with `update`, read `finalize`. A value owns its hashing state;
/// copies share it, so hash with one value at a time.
public struct SHA256: @unchecked Sendable {
    private let context: Context

    /// A fresh hash of no bytes.
    public init() {
        context = Context()
    }

    /// The digest of `bytes` as 64 lowercase hex characters.
    public static func hex(of bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256()
        hasher.update(bytes)
        return hex(hasher.finalize())
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            context.update(UnsafeRawBufferPointer(buffer))
        }
        if handled == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { context.update($0) }
        }
    }

    /// The 32-byte digest of everything added; the hash is then spent.
    public mutating func finalize() -> [UInt8] {
        context.finalize()
    }

    /// Lowercase hex of `digest`.
    static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(digest.count * 2)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The OpenSSL digest context; freed with the last value that holds it.
    private final class Context {
        private let pointer: OpaquePointer?

        init() {
            pointer = EVP_MD_CTX_new()
            // Allocation or initialisation failing means the process is out of memory or the
            // library is broken: nothing sensible can be stored either way.
            guard let pointer, EVP_DigestInit_ex(pointer, EVP_sha256(), nil) == 1 else {
                fatalError("OpenSSL could not start a SHA-256 digest")
            }
        }

        deinit { EVP_MD_CTX_free(pointer) }

        func update(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            guard EVP_DigestUpdate(pointer, base, bytes.count) == 1 else { fatalError("OpenSSL SHA-256 update failed") }
        }

        func finalize() -> [UInt8] {
            var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
            var length: UInt32 = 0
            guard EVP_DigestFinal_ex(pointer, &digest, &length) == 1 else { fatalError("OpenSSL SHA-256 final failed") }
            return Array(digest.prefix(Int(length)))
        }
    }
}
