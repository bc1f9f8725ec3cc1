import Foundation
import XRayCore

/// Reader and writer for the safetensors format: an 8-byte little-endian header length, a JSON
/// header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`,
/// then the raw little-endian tensor bytes (offsets relative to the end of the header).
public enum SafeTensors {
    /// Element types. All are read (integers convert to Float: used for num_batches_tracked);
    /// F32, F16 and BF16 can be written.
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i64 = "I64", i32 = "I32"

        public var byteCount: Int {
            switch self {
            case .f16, .bf16: return 2
            case .f32, .i32: return 4
            case .f64, .i64: return 8
            }
        }
    }

    /// Largest header accepted (the format's own limit is 100 MB).
    static let maxHeaderLength = 100_000_000

    public static func read(contentsOf url: URL) throws(ModelError) -> (tensors: [String: Tensor], metadata: [String: String]) {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw .unreadable(path: url.path, reason: error.localizedDescription)
        }
        return try decode(data, path: url.path)
    }

    /// Parses safetensors bytes; `path` is only used in error messages.
    public static func decode(_ data: Data, path: String = "<memory>") throws(ModelError) -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard data.count >= 8 else { throw .malformed(path: path, reason: "only \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        guard headerLength >= 2, headerLength <= maxHeaderLength, headerLength <= data.count - 8 else {
            throw .malformed(path: path, reason: "header length \(headerLength) does not fit a \(data.count)-byte file")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: data.subdata(in: 8..<(8 + headerLength)))
        } catch {
            throw .malformed(path: path, reason: "header is not valid safetensors JSON (\(error))")
        }
        let dataStart = 8 + headerLength, dataLength = data.count - dataStart
        var tensors: [String: Tensor] = [:]
        tensors.reserveCapacity(header.entries.count)
        for (name, info) in header.entries {
            guard let dtype = DType(rawValue: info.dtype) else {
                throw .malformed(path: path, reason: "tensor \"\(name)\" has dtype \(info.dtype); supported: \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard info.shape.allSatisfy({ $0 >= 0 }), info.data_offsets.count == 2 else {
                throw .malformed(path: path, reason: "tensor \"\(name)\" has a bad shape \(info.shape) or data_offsets \(info.data_offsets)")
            }
            let (begin, end) = (info.data_offsets[0], info.data_offsets[1])
            let (count, overflow) = info.shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, begin >= 0, end <= dataLength, end - begin == count * dtype.byteCount else {
                throw .malformed(path: path, reason: "tensor \"\(name)\" (\(info.dtype) \(info.shape)) has data_offsets [\(begin), \(end)] that do not match its size or lie outside the \(dataLength) data bytes")
            }
            let scalars = data.withUnsafeBytes { raw in
                convert(UnsafeRawBufferPointer(rebasing: raw[(dataStart + begin)..<(dataStart + end)]), dtype: dtype, count: count)
            }
            tensors[name] = Tensor(shape: info.shape, scalars: scalars)
        }
        return (tensors, header.metadata)
    }

    /// The file's bytes with its `__metadata__` changed by `update` and everything else kept:
    /// tensor entries, order, dtypes and the data bytes are copied as they are, so the weights
    /// stay byte-identical. The header is re-padded with spaces to a multiple of 8.
    public static func replacingMetadata(in data: Data, path: String = "<memory>",
                                         _ update: (inout [String: String]) -> Void) throws(ModelError) -> Data {
        _ = try decode(data, path: path)  // validates the whole file first
        let headerLength = data.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let headerBytes = data.subdata(in: 8..<(8 + headerLength))
        guard var object = (try? JSONSerialization.jsonObject(with: headerBytes)) as? [String: Any] else {
            throw .malformed(path: path, reason: "header is not a JSON object")
        }
        var metadata = (object["__metadata__"] as? [String: String]) ?? [:]
        update(&metadata)
        object["__metadata__"] = metadata.isEmpty ? nil : metadata
        let json: Data
        do { json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) } catch {
            throw .unwritable(path: path, reason: "cannot encode the header (\(error))")
        }
        var header = [UInt8](json)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + header.count + data.count - 8 - headerLength)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        out.append(data.subdata(in: (8 + headerLength)..<data.count))
        return out
    }

    /// Writes tensors (sorted by name, contiguous, in `dtype`) and string metadata.
    /// - Throws: `.unwritable` when the file cannot be written or a value does not fit `dtype`.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL,
                             dtype: DType = .f32) throws(ModelError) {
        let data = try encode(tensors, metadata: metadata, dtype: dtype, path: url.path)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    /// The bytes `write` would store.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:], dtype: DType = .f32,
                              path: String = "<memory>") throws(ModelError) -> Data {
        guard [.f32, .f16, .bf16].contains(dtype) else {
            throw .unwritable(path: path, reason: "writing \(dtype.rawValue) is not supported; use F32, F16 or BF16")
        }
        let names = tensors.keys.sorted()
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let size = t.count * dtype.byteCount
            entries.append("\(jsonString(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }  // pad with spaces so the data is 8-byte aligned
        var data = Data(count: 8 + header.count + offset)
        var failure: ModelError?
        data.withUnsafeMutableBytes { out in
            out.storeBytes(of: UInt64(header.count).littleEndian, as: UInt64.self)
            out.baseAddress!.advanced(by: 8).copyMemory(from: header, byteCount: header.count)
            var at = 8 + header.count
            for name in names {
                let scalars = tensors[name]!.scalars
                switch dtype {
                case .f32:
                    for v in scalars { out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: at, as: UInt32.self); at += 4 }
                case .f16:
                    for v in scalars {
                        let h = Float16(v)
                        if h.isInfinite && v.isFinite && failure == nil {
                            failure = .unwritable(path: path, reason: "tensor \"\(name)\" holds \(v), outside the F16 range (±65504); save as F32")
                        }
                        out.storeBytes(of: h.bitPattern.littleEndian, toByteOffset: at, as: UInt16.self); at += 2
                    }
                default:
                    for v in scalars { out.storeBytes(of: bfloat16Bits(v).littleEndian, toByteOffset: at, as: UInt16.self); at += 2 }
                }
            }
        }
        if let failure { throw failure }
        return data
    }

    // MARK: - Details

    private struct TensorInfo: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    private struct Header: Decodable {
        var entries: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]

        struct Key: CodingKey {
            let stringValue: String
            init?(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            for key in container.allKeys {
                if key.stringValue == "__metadata__" {
                    metadata = try container.decode([String: String].self, forKey: key)
                } else {
                    entries[key.stringValue] = try container.decode(TensorInfo.self, forKey: key)
                }
            }
        }
    }

    private static func convert(_ raw: UnsafeRawBufferPointer, dtype: DType, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
            switch dtype {
            case .f32:
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case .f16:
                for i in 0..<count { out[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
            case .bf16:
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            case .f64:
                for i in 0..<count { out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            case .i64:
                for i in 0..<count { out[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            case .i32:
                for i in 0..<count { out[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            }
            initialized = count
        }
    }

    /// Float → bfloat16 bits, rounding to nearest even (NaN stays NaN).
    private static func bfloat16Bits(_ v: Float) -> UInt16 {
        if v.isNaN { return 0x7FC0 }
        let bits = v.bitPattern
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// A JSON string literal with the required escapes.
    private static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += "\\u00" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
