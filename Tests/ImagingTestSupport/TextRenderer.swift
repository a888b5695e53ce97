import CVips
import Foundation
@_spi(ImageCodec) import Imaging

/// Text drawn on photos for the OCR tests, with libvips's text operator (Pango and the system's
/// fonts): a line of text on a panel, both turned by a few degrees, composited onto an RGB image.
public enum TextRenderer {
    /// A coverage mask (0-255), `width` x `height`.
    public struct Mask: Sendable {
        public var width: Int
        public var height: Int
        public var coverage: [UInt8]
    }

    /// `text` in `font` (a Pango description with its size, "DejaVu Serif 24"), on a panel `margin`
    /// pixels wider on each side, both turned `degrees` clockwise: the text's mask and the panel's.
    public static func masks(_ text: String, font: String, degrees: Double, margin: Int = 10) throws(ImagingError) -> (text: Mask, panel: Mask) {
        try Vips.ensureStarted()
        var made: UnsafeMutablePointer<VipsImage>?
        guard shim_vips_text(&made, text, font, 72) == 0, let made else {
            throw .processingFailed(operation: "text", detail: Vips.takeError())
        }
        let glyphs = VipsImageRef(made)
        let (width, height) = (Int(vips_image_get_width(glyphs.pointer)) + 2 * margin, Int(vips_image_get_height(glyphs.pointer)) + 2 * margin)
        let framed = try glyphs.apply("embed") { shim_vips_embed_black($0, $1, Int32(margin), Int32(margin), Int32(width), Int32(height)) }
        let solid = [UInt8](repeating: 255, count: width * height)
        guard
            let panel = solid.withUnsafeBytes({
                vips_image_new_from_memory_copy($0.baseAddress, $0.count, Int32(width), Int32(height), 1, VIPS_FORMAT_UCHAR)
            })
        else { throw .processingFailed(operation: "new_from_memory_copy", detail: Vips.takeError()) }
        func turned(_ image: VipsImageRef) throws(ImagingError) -> Mask {
            let rotated = degrees == 0 ? image : try image.apply("rotate") { shim_vips_rotate($0, $1, degrees) }
            let bytes = try rotated.apply("cast") { shim_vips_cast($0, $1, VIPS_FORMAT_UCHAR) }
            var size = 0
            guard let memory = vips_image_write_to_memory(bytes.pointer, &size) else {
                throw .processingFailed(operation: "write_to_memory", detail: Vips.takeError())
            }
            defer { shim_g_free(memory) }
            return Mask(
                width: Int(vips_image_get_width(bytes.pointer)), height: Int(vips_image_get_height(bytes.pointer)),
                coverage: Array(UnsafeRawBufferPointer(start: memory, count: size)))
        }
        return (try turned(framed), try turned(VipsImageRef(panel)))
    }

    /// Blends `color` into `pixels` (RGB, `width` wide) through `mask` placed at (`x`, `y`), scaled by `opacity`.
    public static func paint(
        _ mask: Mask, color: (UInt8, UInt8, UInt8), opacity: Double = 1, on pixels: inout [UInt8], width: Int, height: Int, x: Int, y: Int
    ) {
        let ink = [Double(color.0), Double(color.1), Double(color.2)]
        for row in 0..<mask.height where y + row >= 0 && y + row < height {
            for column in 0..<mask.width where x + column >= 0 && x + column < width {
                let alpha = Double(mask.coverage[row * mask.width + column]) / 255 * opacity
                guard alpha > 0 else { continue }
                let at = ((y + row) * width + x + column) * 3
                for c in 0..<3 { pixels[at + c] = UInt8((Double(pixels[at + c]) * (1 - alpha) + ink[c] * alpha).rounded()) }
            }
        }
    }
}
