internal import CCairo
import CAM
import Foundation
import ImageDecoding
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

// Every Cairo and Pango call of the Reporting target is in this file.

/// Where Cairo's output stream goes: a file descriptor, keeping the errno of a failed write.
private final class FileSink {
    let fd: Int32
    var failure: Int32 = 0

    init(fd: Int32) { self.fd = fd }

    /// Cairo's write callback; `closure` is an unretained `FileSink`.
    static let write: cairo_write_func_t = { closure, data, length in
        let sink = Unmanaged<FileSink>.fromOpaque(closure!).takeUnretainedValue()
        guard let data else { return length == 0 ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR }
        var offset = 0
        let total = Int(length)
        while offset < total {
            let n = Glibc.write(sink.fd, data + offset, total - offset)
            if n < 0 {
                if errno == EINTR { continue }
                sink.failure = errno
                return CAIRO_STATUS_WRITE_ERROR
            }
            offset += n
        }
        return CAIRO_STATUS_SUCCESS
    }
}

/// One page being drawn, in points, for PNG or PDF output. Not thread-safe; one per figure.
///
/// Layout is done once in points for both formats: a PDF page is `size` points, a PNG is
/// `size × pngScale` pixels with the same drawing scaled.
final class Canvas {
    let format: FigureFormat
    let size: Size
    /// Pixels per point in the PNG (1 for PDF, whose images are embedded at `pdfImageDensity`).
    let pngScale: Double
    /// Pixels per point at which grey images are embedded in a PDF.
    let pdfImageDensity = 2.0
    /// With a quality (1–100), a PDF embeds images as JPEG (DCTDecode) instead of deflated pixels:
    /// several times faster to write and smaller. nil keeps them lossless.
    var embedJPEGQuality: Int?

    private let surface: OpaquePointer
    private let cr: OpaquePointer
    private let pango: OpaquePointer
    private let sink: FileSink

    /// Creates a white page writing to `fd` (the PDF streams out as it is drawn; the PNG is written by `finish`).
    private init(format: FigureFormat, size: Size, pngScale: Double, fd: Int32, info: DocumentInfo) throws(RenderError) {
        self.format = format
        self.size = size
        self.sink = FileSink(fd: fd)
        switch format {
        case .pdf:
            self.pngScale = 1
            surface = cairo_pdf_surface_create_for_stream(
                FileSink.write, Unmanaged.passUnretained(sink).toOpaque(), size.width, size.height)
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, info.title)
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_SUBJECT, info.subject)
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, info.creator)
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, info.createdString)
        case .png:
            self.pngScale = pngScale
            let w = Int32((size.width * pngScale).rounded(.up))
            let h = Int32((size.height * pngScale).rounded(.up))
            surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h)
        }
        let status = cairo_surface_status(surface)
        guard status == CAIRO_STATUS_SUCCESS else {
            cairo_surface_destroy(surface)
            throw .drawingFailed(reason: Self.message(status))
        }
        cr = cairo_create(surface)
        if format == .png { cairo_scale(cr, pngScale, pngScale) }

        // Unhinted metrics, so text is laid out identically in the PDF and at any PNG scale.
        pango = pango_cairo_create_context(cr)
        let options = cairo_font_options_create()
        cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF)
        cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE)
        cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY)
        pango_cairo_context_set_font_options(pango, options)
        cairo_font_options_destroy(options)

        // Paint, not a rectangle: it covers every device pixel, including a PNG's partial last row.
        cairo_set_source_rgb(cr, 1, 1, 1)
        cairo_paint(cr)
    }

    /// A canvas that is only measured, never written (for layouts whose page size depends on their text).
    static func scratch() throws(RenderError) -> Canvas {
        try Canvas(format: .png, size: Size(width: 1, height: 1), pngScale: 1, fd: -1, info: DocumentInfo(title: "", subject: ""))
    }

    deinit {
        g_object_unref(UnsafeMutableRawPointer(pango))
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    /// Draws one page with `draw` and writes it atomically to `url` (see `AtomicFile`).
    static func render(
        to url: URL, format: FigureFormat, overwrite: Bool, size: Size, pngScale: Double, info: DocumentInfo,
        _ draw: (Canvas) throws(RenderError) -> Void
    ) throws(RenderError) {
        let path = url.standardizedFileURL.path
        try AtomicFile.write(to: url, overwrite: overwrite) { (fd) throws(RenderError) in
            let canvas = try Canvas(format: format, size: size, pngScale: pngScale, fd: fd, info: info)
            try draw(canvas)
            try canvas.finish(path: path)
        }
    }

    /// Ends the current PDF page and starts a blank one of the same size (`cairo_show_page`).
    /// Only for PDF: a PNG has one page.
    func newPage() {
        precondition(format == .pdf, "a PNG has one page")
        cairo_show_page(cr)
    }

    /// Draws `body` as a link to `file`, a file name or path relative to this PDF's folder (or a
    /// URI), clickable over `rect`. No link in a PNG; `body` is drawn either way.
    ///
    /// The link is a PDF URI action with the relative reference, which viewers resolve against
    /// the PDF's own location (Evince, Okular, pdf.js, Chrome). Cairo 1.16's `file=` links (a
    /// GoToR action) would be the PDF-native choice, but 1.16 writes them with an invalid
    /// destination (`/D [0 null null 0]`, refused by poppler) and rejects `page=`/`dest=` with them.
    func link(to file: String, rect: Rect, _ body: () -> Void) {
        guard format == .pdf else { return body() }
        // RFC 3986: keep unreserved characters and '/', percent-encode the rest (UTF-8).
        var encoded = ""
        for byte in file.utf8 {
            let c = Character(UnicodeScalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || "-._~/".contains(c) { encoded.append(c) }
            else { encoded += String(format: "%%%02X", byte) }
        }
        let box = [rect.x, rect.y, rect.width, rect.height].map { NumberText.fixed($0, digits: 2) }.joined(separator: " ")
        cairo_tag_begin(cr, CAIRO_TAG_LINK, "uri='\(encoded)' rect=[\(box)]")
        body()
        cairo_tag_end(cr, CAIRO_TAG_LINK)
    }

    /// Completes the output: finishes the PDF, or encodes the PNG.
    private func finish(path: String) throws(RenderError) {
        let drawing = cairo_status(cr)
        guard drawing == CAIRO_STATUS_SUCCESS else { throw .drawingFailed(reason: Self.message(drawing)) }
        let status: cairo_status_t
        switch format {
        case .pdf:
            cairo_surface_finish(surface)
            status = cairo_surface_status(surface)
        case .png:
            cairo_surface_flush(surface)
            status = cairo_surface_write_to_png_stream(surface, FileSink.write, Unmanaged.passUnretained(sink).toOpaque())
        }
        guard status == CAIRO_STATUS_SUCCESS else {
            let reason = sink.failure != 0 ? AtomicFile.reason(sink.failure) : Self.message(status)
            throw status == CAIRO_STATUS_WRITE_ERROR || sink.failure != 0
                ? .cannotWrite(path: path, reason: reason) : .drawingFailed(reason: reason)
        }
    }

    private static func message(_ status: cairo_status_t) -> String {
        String(cString: cairo_status_to_string(status))
    }

    // MARK: Shapes

    private func setColor(_ c: Color) {
        cairo_set_source_rgba(cr, c.red, c.green, c.blue, c.alpha)
    }

    func fill(_ r: Rect, _ color: Color) {
        setColor(color)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_fill(cr)
    }

    func stroke(_ r: Rect, _ color: Color, lineWidth: Double = 0.5) {
        setColor(color)
        cairo_set_line_width(cr, lineWidth)
        cairo_set_dash(cr, nil, 0, 0)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_stroke(cr)
    }

    /// A polyline through `points`; `dash` is on/off lengths in points (nil: solid).
    func line(_ points: [Point], _ color: Color, lineWidth: Double = 1, dash: [Double]? = nil) {
        guard let first = points.first else { return }
        setColor(color)
        cairo_set_line_width(cr, lineWidth)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(cr, dash == nil ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT)
        if let dash { cairo_set_dash(cr, dash, Int32(dash.count), 0) } else { cairo_set_dash(cr, nil, 0, 0) }
        cairo_move_to(cr, first.x, first.y)
        for p in points.dropFirst() { cairo_line_to(cr, p.x, p.y) }
        cairo_stroke(cr)
        cairo_set_dash(cr, nil, 0, 0)
    }

    func circle(center: Point, radius: Double, fill color: Color, outline: Color? = nil) {
        cairo_new_sub_path(cr)
        cairo_arc(cr, center.x, center.y, radius, 0, 2 * Double.pi)
        setColor(color)
        if let outline {
            cairo_fill_preserve(cr)
            setColor(outline)
            cairo_set_line_width(cr, 0.6)
            cairo_stroke(cr)
        } else {
            cairo_fill(cr)
        }
    }

    /// Runs `body` with drawing clipped to `rect`.
    func clipped(to rect: Rect, _ body: () -> Void) {
        cairo_save(cr)
        cairo_rectangle(cr, rect.x, rect.y, rect.width, rect.height)
        cairo_clip(cr)
        body()
        cairo_restore(cr)
    }

    // MARK: Text

    /// A Pango layout for `runs` (markup) or `text` (plain), wrapped at `width` if given.
    private func layout(
        text: String?, runs: [TextRun]?, font: Font, width: Double?, alignment: TextAlignment, maxLines: Int? = nil
    ) -> OpaquePointer {
        pango_cairo_update_context(cr, pango)
        let layout = pango_layout_new(pango)!
        let description = pango_font_description_new()
        pango_font_description_set_family(description, font.family)
        pango_font_description_set_absolute_size(description, font.size * Double(PANGO_SCALE))
        pango_font_description_set_weight(description, font.bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL)
        pango_font_description_set_style(description, font.italic ? PANGO_STYLE_ITALIC : PANGO_STYLE_NORMAL)
        pango_layout_set_font_description(layout, description)
        pango_font_description_free(description)
        if let width {
            pango_layout_set_width(layout, Int32(width * Double(PANGO_SCALE)))
            pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR)
            if let maxLines {
                // A negative height is a line count; text beyond it ends in "…".
                pango_layout_set_height(layout, -Int32(max(1, maxLines)))
                pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END)
            }
        }
        switch alignment {
        case .left: pango_layout_set_alignment(layout, PANGO_ALIGN_LEFT)
        case .center: pango_layout_set_alignment(layout, PANGO_ALIGN_CENTER)
        case .right: pango_layout_set_alignment(layout, PANGO_ALIGN_RIGHT)
        }
        if let runs {
            pango_layout_set_markup(layout, runs.map(\.markup).joined(), -1)
        } else {
            pango_layout_set_text(layout, text ?? "", -1)
        }
        return layout
    }

    private func extent(_ layout: OpaquePointer) -> Size {
        var logical = PangoRectangle()
        pango_layout_get_extents(layout, nil, &logical)
        return Size(width: Double(logical.width) / Double(PANGO_SCALE), height: Double(logical.height) / Double(PANGO_SCALE))
    }

    /// The size `text` takes in `font`, wrapped at `width` (to at most `maxLines`, ellipsized) if given.
    func measure(_ text: String, _ font: Font, width: Double? = nil, maxLines: Int? = nil) -> Size {
        let l = layout(text: text, runs: nil, font: font, width: width, alignment: .left, maxLines: maxLines)
        defer { g_object_unref(UnsafeMutableRawPointer(l)) }
        return extent(l)
    }

    /// How many characters of `text` no installed font has a glyph for (Pango draws them as boxes).
    func unknownGlyphs(_ text: String, _ font: Font) -> Int {
        let l = layout(text: text, runs: nil, font: font, width: nil, alignment: .left)
        defer { g_object_unref(UnsafeMutableRawPointer(l)) }
        return Int(pango_layout_get_unknown_glyphs_count(l))
    }

    /// `text` as it can be drawn: unchanged when every character has a glyph (with a CJK font
    /// such as Noto Sans CJK installed, fontconfig finds one for Chinese, Japanese and Korean
    /// names); otherwise each character without one becomes its code, e.g. "[U+80F8]", so a name
    /// never shows as empty boxes that cannot be told apart.
    func displayable(_ text: String, _ font: Font) -> String {
        guard unknownGlyphs(text, font) > 0 else { return text }
        return text.map { ch -> String in
            ch.isASCII || unknownGlyphs(String(ch), font) == 0
                ? String(ch) : "[" + ch.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " ") + "]"
        }.joined()
    }

    /// The size of mixed-style `runs` in `font`, wrapped at `width` if given.
    func measure(_ runs: [TextRun], _ font: Font, width: Double? = nil) -> Size {
        let l = layout(text: nil, runs: runs, font: font, width: width, alignment: .left)
        defer { g_object_unref(UnsafeMutableRawPointer(l)) }
        return extent(l)
    }

    /// Draws `text` with its top-left at `origin`, wrapped at `width` (and aligned within it) if given,
    /// to at most `maxLines` lines (the last ending in "…" if cut). Returns the drawn size.
    @discardableResult
    func text(_ text: String, at origin: Point, _ font: Font, _ color: Color = .black,
              width: Double? = nil, alignment: TextAlignment = .left, maxLines: Int? = nil) -> Size {
        draw(layout(text: text, runs: nil, font: font, width: width, alignment: alignment, maxLines: maxLines),
             at: origin, color)
    }

    /// Draws mixed-style `runs` (each may set its colour or weight) with its top-left at `origin`.
    @discardableResult
    func text(_ runs: [TextRun], at origin: Point, _ font: Font, _ color: Color = .black,
              width: Double? = nil, alignment: TextAlignment = .left) -> Size {
        draw(layout(text: nil, runs: runs, font: font, width: width, alignment: alignment), at: origin, color)
    }

    /// Draws `text` turned 90° anticlockwise (reading upwards), centred on `center`.
    ///
    /// With `length`, the text is wrapped in a box that long (to at most `maxLines` lines, the last
    /// ellipsized), and `alignment` places it within: `.right` puts line ends at the top of the box.
    func verticalText(_ text: String, centeredAt center: Point, _ font: Font, _ color: Color = .black,
                      length: Double? = nil, alignment: TextAlignment = .left, maxLines: Int = 1) {
        cairo_save(cr)
        cairo_translate(cr, center.x, center.y)
        cairo_rotate(cr, -Double.pi / 2)
        let l = layout(text: text, runs: nil, font: font, width: length, alignment: alignment,
                       maxLines: length == nil ? nil : maxLines)
        let s = extent(l)
        let w = length ?? s.width
        _ = draw(l, at: Point(x: -w / 2, y: -s.height / 2), color)
        cairo_restore(cr)
    }

    private func draw(_ layout: OpaquePointer, at origin: Point, _ color: Color) -> Size {
        defer { g_object_unref(UnsafeMutableRawPointer(layout)) }
        setColor(color)
        cairo_move_to(cr, origin.x, origin.y)
        pango_cairo_show_layout(cr, layout)
        return extent(layout)
    }

    // MARK: Images

    /// Draws `image` scaled to fit `rect` with its aspect ratio kept (letterboxed, centred), on `background`.
    /// Returns where the image itself went.
    ///
    /// A PDF embeds at most `pdfDensity` (default `pdfImageDensity`) pixels per point, and with
    /// `maxEmbeddedPixels` at most that many pixels in all (the image is downscaled first).
    @discardableResult
    func image(_ image: GrayImage, fitting rect: Rect, background: Color? = .black, pdfDensity: Double? = nil, maxEmbeddedPixels: Int? = nil) -> Rect {
        fitted(width: image.width, height: image.height, into: rect, background: background, pdfDensity: pdfDensity,
               maxEmbeddedPixels: maxEmbeddedPixels) { Self.surface(from: image) }
    }

    /// Draws an RGB `image` like the grey one: fitted into `rect`, letterboxed on `background`.
    @discardableResult
    func image(_ image: RGBImage, fitting rect: Rect, background: Color? = .black, pdfDensity: Double? = nil, maxEmbeddedPixels: Int? = nil) -> Rect {
        fitted(width: image.width, height: image.height, into: rect, background: background, pdfDensity: pdfDensity,
               maxEmbeddedPixels: maxEmbeddedPixels) { Self.surface(from: image) }
    }

    /// The shared body of the two `image(_:fitting:)`: letterbox, then paint the surface `make` returns.
    private func fitted(width: Int, height: Int, into rect: Rect, background: Color?, pdfDensity: Double?,
                        maxEmbeddedPixels: Int?, surface make: () -> OpaquePointer?) -> Rect {
        if let background { fill(rect, background) }
        let target = rect.fitting(aspect: Double(width) / Double(height))
        guard let source = make() else { return target }
        defer { cairo_surface_destroy(source) }
        paint(source, width: width, height: height, into: target, pdfDensity: pdfDensity, maxEmbeddedPixels: maxEmbeddedPixels)
        return target
    }

    /// Draws the PNG at `path` fitted into `rect` (no background). Returns where it went, or nil
    /// if Cairo cannot read the file.
    @discardableResult
    func pngImage(atPath path: String, fitting rect: Rect) -> Rect? {
        let source = cairo_image_surface_create_from_png(path)!
        defer { cairo_surface_destroy(source) }
        guard cairo_surface_status(source) == CAIRO_STATUS_SUCCESS else { return nil }
        let w = Int(cairo_image_surface_get_width(source)), h = Int(cairo_image_surface_get_height(source))
        guard w > 0, h > 0 else { return nil }
        let target = rect.fitting(aspect: Double(w) / Double(h))
        paint(source, width: w, height: h, into: target, pdfDensity: nil, maxEmbeddedPixels: nil)
        return target
    }

    /// Paints `source` (w × h pixels) stretched over `target`, downscaled first to the pixels the page needs.
    private func paint(
        _ source: OpaquePointer, width: Int, height: Int, into target: Rect, pdfDensity: Double?, maxEmbeddedPixels: Int?
    ) {
        var density = format == .png ? pngScale : pdfDensity ?? pdfImageDensity
        if format == .pdf, let maxEmbeddedPixels {
            density = min(density, (Double(maxEmbeddedPixels) / (target.width * target.height)).squareRoot())
        }
        // Pixels the image needs on the page; never more than it has (upscaling is left to the viewer).
        let w = max(1, min(width, Int((target.width * density).rounded())))
        let h = max(1, min(height, Int((target.height * density).rounded())))

        var embedded = source
        if w < width || h < height {
            // Downscale once here with Cairo's area filter, so a PDF embeds only the pixels it shows.
            let format = cairo_image_surface_get_format(source)
            let small = cairo_image_surface_create(format == CAIRO_FORMAT_ARGB32 ? format : CAIRO_FORMAT_RGB24, Int32(w), Int32(h))!
            let c = cairo_create(small)!
            cairo_scale(c, Double(w) / Double(width), Double(h) / Double(height))
            cairo_set_source_surface(c, source, 0, 0)
            cairo_pattern_set_filter(cairo_get_source(c), CAIRO_FILTER_GOOD)
            cairo_paint(c)
            cairo_destroy(c)
            embedded = small
        }
        defer { if embedded != source { cairo_surface_destroy(embedded) } }
        if format == .pdf, let quality = embedJPEGQuality { Self.attachJPEG(to: embedded, quality: quality) }

        cairo_save(cr)
        cairo_rectangle(cr, target.x, target.y, target.width, target.height)
        cairo_clip(cr)
        cairo_translate(cr, target.x, target.y)
        cairo_scale(cr, target.width / Double(w), target.height / Double(h))
        cairo_set_source_surface(cr, embedded, 0, 0)
        // Bilinear when enlarging a small scan, so it is smooth rather than blocky.
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR)
        // PAD keeps PNG edges from fading into the background; in a PDF it would embed a padded copy.
        if format == .png { cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD) }
        cairo_paint(cr)
        cairo_restore(cr)
    }

    /// Gives an RGB24 surface a JPEG copy of its pixels (grey when every pixel is grey), which
    /// Cairo's PDF backend then embeds as it is. Leaves the surface alone if encoding fails.
    private static func attachJPEG(to surface: OpaquePointer, quality: Int) {
        guard cairo_image_surface_get_format(surface) == CAIRO_FORMAT_RGB24, let data = cairo_image_surface_get_data(surface) else { return }
        cairo_surface_flush(surface)
        let w = Int(cairo_image_surface_get_width(surface)), h = Int(cairo_image_surface_get_height(surface))
        let stride = Int(cairo_image_surface_get_stride(surface))
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        var grey = true
        for y in 0..<h {
            let row = UnsafeRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<w {
                let v = row[x], i = (y * w + x) * 3
                let r = UInt8((v >> 16) & 0xFF), g = UInt8((v >> 8) & 0xFF), b = UInt8(v & 0xFF)
                rgb[i] = r; rgb[i + 1] = g; rgb[i + 2] = b
                if r != g || g != b { grey = false }
            }
        }
        let pixels = grey ? Swift.stride(from: 0, to: rgb.count, by: 3).map { rgb[$0] } : rgb
        guard let jpeg = try? JPEGEncoder.encode(pixels: pixels, width: w, height: h, components: grey ? 1 : 3, quality: quality),
              let copy = malloc(jpeg.count) else { return }
        jpeg.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: jpeg.count) }
        let status = cairo_surface_set_mime_data(surface, CAIRO_MIME_TYPE_JPEG, copy.assumingMemoryBound(to: UInt8.self),
                                                 UInt(jpeg.count), { free($0) }, copy)
        if status != CAIRO_STATUS_SUCCESS { free(copy) }
    }

    /// An RGB24 image surface with the RGB bytes copied in (caller destroys it).
    private static func surface(from image: RGBImage) -> OpaquePointer? {
        image.pixels.withUnsafeBufferPointer { p in
            surface(width: image.width, height: image.height) { i in
                (UInt32(p[3 * i]) << 16) | (UInt32(p[3 * i + 1]) << 8) | UInt32(p[3 * i + 2])
            }
        }
    }

    /// An RGB24 image surface with the grey values copied into all three channels (caller destroys it).
    fileprivate static func surface(from image: GrayImage) -> OpaquePointer? {
        image.pixels.withUnsafeBufferPointer { p in
            surface(width: image.width, height: image.height) { i in
                let v = UInt32(p[i])
                return (v << 16) | (v << 8) | v
            }
        }
    }

    /// An RGB24 surface filled row by row: `pixel(i)` gives the 0xRRGGBB of pixel i = y·width + x.
    private static func surface(width: Int, height: Int, _ pixel: (Int) -> UInt32) -> OpaquePointer? {
        let s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height))!
        guard cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, let data = cairo_image_surface_get_data(s) else {
            cairo_surface_destroy(s)
            return nil
        }
        cairo_surface_flush(s)
        let stride = Int(cairo_image_surface_get_stride(s))
        for y in 0..<height {
            let row = UnsafeMutableRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<width { row[x] = 0xFF00_0000 | pixel(y * width + x) }
        }
        cairo_surface_mark_dirty(s)
        return s
    }
}

extension Canvas {
    /// Draws on a `width` × `height` pixel raster (1 point = 1 pixel, white at first) and returns
    /// its pixels, for images that go somewhere other than a figure file (a DICOM Secondary Capture).
    static func raster(width: Int, height: Int, _ draw: (Canvas) throws(RenderError) -> Void) throws(RenderError) -> RGBImage {
        let canvas = try Canvas(format: .png, size: Size(width: Double(width), height: Double(height)), pngScale: 1, fd: -1,
                                info: DocumentInfo(title: "", subject: ""))
        try draw(canvas)
        cairo_surface_flush(canvas.surface)
        guard let data = cairo_image_surface_get_data(canvas.surface) else { throw .drawingFailed(reason: "no raster data") }
        let stride = Int(cairo_image_surface_get_stride(canvas.surface))
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let row = UnsafeRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<width {
                let v = row[x], i = (y * width + x) * 3  // native-endian 0xXXRRGGBB
                bytes[i] = UInt8((v >> 16) & 0xFF); bytes[i + 1] = UInt8((v >> 8) & 0xFF); bytes[i + 2] = UInt8(v & 0xFF)
            }
        }
        return RGBImage(width: width, height: height, pixels: bytes)
    }
}

/// Reads a PNG with Cairo into RGB bytes (alpha dropped), for tests that check colours in renderings.
/// Returns nil if Cairo cannot read the file.
func readRGBPNG(_ url: URL) -> RGBRaster? {
    let s = cairo_image_surface_create_from_png(url.path)!
    defer { cairo_surface_destroy(s) }
    guard cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, let data = cairo_image_surface_get_data(s) else { return nil }
    let width = Int(cairo_image_surface_get_width(s))
    let height = Int(cairo_image_surface_get_height(s))
    let stride = Int(cairo_image_surface_get_stride(s))
    var bytes = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        let row = UnsafeRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
        for x in 0..<width {
            let v = row[x]  // native-endian 0xAARRGGBB (premultiplied if there is alpha)
            let i = (y * width + x) * 3
            bytes[i] = UInt8((v >> 16) & 0xFF)
            bytes[i + 1] = UInt8((v >> 8) & 0xFF)
            bytes[i + 2] = UInt8(v & 0xFF)
        }
    }
    return RGBRaster(width: width, height: height, bytes: bytes)
}
