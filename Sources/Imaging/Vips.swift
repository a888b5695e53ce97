import CVips
import Foundation
import Logging
import Synchronization

/// Process-wide libvips set-up and error plumbing shared by everything in this module.
public enum Vips {
    /// Starts libvips once per process (thread-safe, idempotent) with settings for long-running
    /// workers: no operation cache, modest concurrency, untrusted loaders blocked.
    public static func initialize() {
        _ = startup
    }

    /// The libvips version this process runs, e.g. "8.14.1".
    public static var version: String {
        initialize()
        return "\(vips_version(0)).\(vips_version(1)).\(vips_version(2))"
    }

    /// Threads libvips uses per image pipeline (set once at start-up).
    public static var concurrency: Int {
        initialize()
        return Int(vips_concurrency_get())
    }

    /// Sends libvips warnings (GLib log domain "VIPS": damaged-but-readable data, ignored
    /// colour profiles, ...) to `handler` instead of stderr; nil drops them. Until called,
    /// libvips prints them to stderr. Failures never depend on warnings: they are thrown.
    public static func routeWarnings(to handler: (@Sendable (String) -> Void)?) {
        initialize()
        warningSink.withLock { $0 = handler }
        _ = warningHandlerInstalled
    }

    /// Sends libvips and GLib warnings to `logger` as warning lines (`library=libvips`), so a
    /// damaged file's "IHDR: CRC error" appears in the tool's own log format, next to the
    /// tool's clear error, instead of as a raw "VIPS-WARNING **" line on stderr.
    public static func routeWarnings(to logger: Logger) {
        routeWarnings { message in logger.warning("\(message)", metadata: ["library": "libvips"]) }
    }

    private static let warningSink = Mutex<(@Sendable (String) -> Void)?>(nil)

    /// The GLib log domains libvips' warnings arrive in: its own, and GLib's for object and
    /// argument misuse inside it.
    private static let warningDomains = ["VIPS", "GLib", "GLib-GObject"]

    private static let warningHandlerInstalled: Void = {
        for domain in warningDomains {
            g_log_set_handler(
                domain, GLogLevelFlags(G_LOG_LEVEL_WARNING.rawValue | G_LOG_LEVEL_CRITICAL.rawValue),
                { domain, _, message, _ in
                    guard let message else { return }
                    let handler = Vips.warningSink.withLock { $0 }
                    let origin = domain.map { String(cString: $0) } ?? "VIPS"
                    let text = String(cString: message)
                    handler?(origin == "VIPS" ? text : "\(origin): \(text)")
                }, nil)
        }
    }()

    /// Why libvips could not start, or nil when it runs; checked before every operation.
    private static let startup: String? = {
        guard shim_vips_init("image-pipeline") == 0 else {
            return takeError(default: "vips_init failed")
        }
        // The operation cache keeps recent results (and the input buffers they reference)
        // alive; a worker sees every image once, so caching only grows memory.
        vips_cache_set_max(0)
        vips_cache_set_max_mem(0)
        vips_cache_set_max_files(0)
        // One thread per pipeline: a 224x224 thumbnail is too small to gain from more, and
        // parallelism comes from running several workers. VIPS_CONCURRENCY overrides.
        if ProcessInfo.processInfo.environment["VIPS_CONCURRENCY"] == nil {
            vips_concurrency_set(1)
        }
        // Loaders libvips marks untrusted (ImageMagick, PDF, SVG, FITS, ...) were not fuzzed
        // for hostile input; images from the internet never reach them.
        vips_block_untrusted_set(1)
        return nil
    }()

    /// Throws when libvips failed to start.
    @_spi(ImageCodec) public static func ensureStarted() throws(ImagingError) {
        if let failure = startup {
            throw .libraryUnavailable(detail: failure)
        }
    }

    /// Takes the text libvips accumulated for the last failure and clears it, so the next
    /// error does not carry this one's message. The buffer is process-global: when several
    /// threads fail at the same instant their messages may interleave.
    @_spi(ImageCodec) public static func takeError(default fallback: String = "libvips reported no reason") -> String {
        guard let raw = vips_error_buffer_copy() else { return fallback }
        defer { shim_g_free(raw) }
        // "unable to call thumbnail_buffer" only names the wrapper; the loader's line says why.
        let lines = String(cString: raw)
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("unable to call") }
        var unique: [String] = []
        for line in lines where !unique.contains(line) { unique.append(line) }
        return unique.isEmpty ? fallback : unique.joined(separator: "; ")
    }
}

/// Owns one VipsImage reference and drops it when the Swift value goes away.
///
/// Open to test support (`@_spi(ImageCodec)`: the test-only image encoder builds on it), not to
/// product code.
@_spi(ImageCodec) public final class VipsImageRef {
    @_spi(ImageCodec) public let pointer: UnsafeMutablePointer<VipsImage>

    @_spi(ImageCodec) public init(_ pointer: UnsafeMutablePointer<VipsImage>) {
        self.pointer = pointer
    }

    deinit {
        shim_vips_unref(pointer)
    }

    var width: Int { Int(vips_image_get_width(pointer)) }
    var height: Int { Int(vips_image_get_height(pointer)) }
    var bands: Int { Int(vips_image_get_bands(pointer)) }
    var interpretation: VipsInterpretation { vips_image_get_interpretation(pointer) }
    var hasAlpha: Bool { vips_image_hasalpha(pointer) != 0 }

    /// The loader that produced this image, e.g. "jpegload_buffer".
    var loader: String? { shim_vips_loader_name(pointer).map { String(cString: $0) } }

    /// Runs one vips operation that writes a new image to its `out` argument.
    @_spi(ImageCodec) public func apply(
        _ operation: String,
        _ body: (UnsafeMutablePointer<VipsImage>, UnsafeMutablePointer<UnsafeMutablePointer<VipsImage>?>) -> Int32
    ) throws(ImagingError) -> VipsImageRef {
        var out: UnsafeMutablePointer<VipsImage>?
        guard body(pointer, &out) == 0, let result = out else {
            throw .processingFailed(operation: operation, detail: Vips.takeError())
        }
        return VipsImageRef(result)
    }

    /// Computes every pixel into a new in-memory image, for operations that read the input in an
    /// order a sequential (streaming) load cannot serve, such as rotation.
    func copyToMemory() throws(ImagingError) -> VipsImageRef {
        guard let copy = vips_image_copy_memory(pointer) else {
            throw .processingFailed(operation: "copy_memory", detail: Vips.takeError())
        }
        return VipsImageRef(copy)
    }

    /// The image turned upright by an EXIF `orientation` (1 leaves it as it is). The rotation reads
    /// the image out of order, which a sequential load cannot serve: the pixels are copied to memory first.
    func upright(orientation: Int32) throws(ImagingError) -> VipsImageRef {
        guard orientation != 1 else { return self }
        return try copyToMemory().apply("autorot") { shim_vips_autorot($0, $1) }
    }

    /// Computes every pixel and copies them out, band-interleaved, row by row.
    func writeToMemory() throws(ImagingError) -> [UInt8] {
        var size = 0
        guard let memory = vips_image_write_to_memory(pointer, &size) else {
            throw .processingFailed(operation: "write_to_memory", detail: Vips.takeError())
        }
        defer { shim_g_free(memory) }
        return Array(UnsafeRawBufferPointer(start: memory, count: size))
    }
}
