import Foundation
import Testing
import TestSupport
import XRayCore

// Test support for KernelsTests; the hash generator and expectClose are in TestSupport.

enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/resnet")

    static func load(_ file: String) throws -> [String: Tensor] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        let headerLength = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        var tensors: [String: Tensor] = [:]
        for (name, value) in header where name != "__metadata__" {
            let info = value as! [String: Any]
            precondition(info["dtype"] as! String == "F32", "fixture \(name) is not F32")
            let shape = (info["shape"] as! [NSNumber]).map(\.intValue)
            let offsets = (info["data_offsets"] as! [NSNumber]).map(\.intValue)
            let bytes = data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
            let scalars = bytes.withUnsafeBytes { raw in
                (0..<(bytes.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            }
            tensors[name] = Tensor(shape: shape, scalars: scalars)
        }
        return tensors
    }
}
