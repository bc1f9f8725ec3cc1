import Foundation
import Testing
import TestSupport
import XRayCore
@testable import ResNet

@Suite struct SafeTensorsTests {
    @Test func readsAFileWrittenBySafetensorsTorch() throws {
        let (t, metadata) = try SafeTensors.read(contentsOf: Fixture.url("torch_written.safetensors"))
        #expect(t["matrix"] == Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5]))
        #expect(t["scalar"] == Tensor(shape: [], scalars: [2.5]))
        #expect(t["layer1.0.bn1.num_batches_tracked"] == Tensor(shape: [], scalars: [100]))  // I64
        #expect(t["layer1.0.bn1.weight"]!.scalars == hashUniform("layer1.0.bn1.weight", [64], 0.8, 1.2).scalars)
        let runningVar = Reference.fixtures["stats.bn1.running_var"]!.scalars
        #expect(t["half"]!.scalars == runningVar.map { Float(Float16($0)) })  // F16
        let runningMean = Reference.fixtures["stats.bn1.running_mean"]!.scalars
        expectClose(t["brain"]!.scalars, runningMean, rtol: 1.0 / 256, atol: 0, "BF16")
        #expect(metadata["note"] == "written by safetensors.torch")
        let config = try ResNetConfiguration.decode(json: metadata[ResNetConfiguration.metadataKey]!)
        #expect(config.classNames == Reference.classNames)
    }

    @Test func roundTripsFloat32ExactlyAndFloat16Rounded() throws {
        let tensors = ["a.weight": hashUniform("rt.a", [3, 4, 2], -3, 3), "b": Tensor(shape: [], scalars: [-0.1]),
                       "empty": Tensor(zeros: [0, 5]), "tiny": Tensor(shape: [2], scalars: [1e-8, 70000])]
        let metadata = ["cxreview.config": "{\"x\": \"é\\n\"}", "quote\"key": "tab\tvalue"]
        let f32 = try SafeTensors.decode(SafeTensors.encode(tensors, metadata: metadata, dtype: .f32))
        #expect(f32.tensors == tensors)
        #expect(f32.metadata == metadata)

        #expect(throws: ModelError.self) { try SafeTensors.encode(tensors, dtype: .f16) }  // 70000 overflows F16
        var small = tensors
        small["tiny"] = nil
        let f16 = try SafeTensors.decode(SafeTensors.encode(small, metadata: metadata, dtype: .f16))
        #expect(f16.tensors.mapValues(\.shape) == small.mapValues(\.shape))
        for (name, t) in small { #expect(f16.tensors[name]!.scalars == t.scalars.map { Float(Float16($0)) }) }
        let bf16 = try SafeTensors.decode(SafeTensors.encode(tensors, dtype: .bf16))
        expectClose(bf16.tensors["a.weight"]!.scalars, tensors["a.weight"]!.scalars, rtol: 1.0 / 256, atol: 0, "BF16 round trip")
    }

    @Test func headerIsAlignedAndOffsetsAreContiguous() throws {
        let data = try SafeTensors.encode(["x": Tensor(shape: [3], scalars: [1, 2, 3])], metadata: ["k": "v"])
        let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        #expect((8 + headerLength) % 8 == 0)
        #expect(data.count == 8 + headerLength + 12)
        let header = String(decoding: data.subdata(in: 8..<(8 + headerLength)), as: UTF8.self)
        #expect(header.contains("\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}"))
    }

    @Test func malformedFilesAreRejectedWithTheReason() throws {
        let good = try SafeTensors.encode(["x": Tensor(shape: [2], scalars: [1, 2])])
        func reason(_ data: Data) -> String? {
            do { _ = try SafeTensors.decode(data, path: "f"); return nil } catch {
                if case .malformed(let path, let reason) = error, path == "f" { return reason }
                return "wrong error \(error)"
            }
        }
        #expect(reason(Data([1, 2, 3]))?.contains("shorter") == true)
        #expect(reason(good.prefix(good.count - 1))?.contains("data_offsets") == true)  // truncated data
        var huge = good
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        #expect(reason(huge)?.contains("header length") == true)
        let headerLength = good.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        var header = String(decoding: good.subdata(in: 8..<(8 + headerLength)), as: UTF8.self)
        header = header.replacingOccurrences(of: "F32", with: "U8 ")
        #expect(reason(good.prefix(8) + Data(header.utf8) + good.suffix(8))?.contains("dtype U8") == true)
        #expect(reason(good.prefix(8) + Data(String(repeating: "x", count: headerLength).utf8) + good.suffix(8))?.contains("JSON") == true)
    }

    @Test func unreadableFileSaysSo() {
        let url = URL(fileURLWithPath: "/nonexistent/w.safetensors")
        #expect { try SafeTensors.read(contentsOf: url) } throws: { error in
            guard let e = error as? ModelError, case .unreadable(let path, _) = e else { return false }
            return path == url.path && e.description.contains("cannot read")
        }
    }
}

@Suite struct ResNetConfigurationTests {
    @Test func decodingIgnoresUnknownKeysAndMissingOptionals() throws {
        let json = #"{"classNames":["a","b"],"inputSize":224,"mean":[0.5,0.5,0.5],"std":[0.2,0.2,0.2],"temperature":1.3,"metrics":{"auc":0.9}}"#
        let c = try ResNetConfiguration.decode(json: json)
        #expect(c.classNames == ["a", "b"] && c.inputSize == 224 && c.name == nil && c.trained == nil)
        #expect(try ResNetConfiguration.decode(json: c.jsonString()) == c)
        let full = ResNetConfiguration(classNames: ["x"], name: "n", version: "1", description: "d", trained: true)
        #expect(try ResNetConfiguration.decode(json: full.jsonString()) == full)
    }

    @Test func invalidConfigurationsAreRejected() {
        #expect(throws: ModelError.self) { try ResNetConfiguration.decode(json: #"{"classNames":["a"]}"#) }
        for bad in [ResNetConfiguration(classNames: []), ResNetConfiguration(classNames: ["a", "a"]),
                    ResNetConfiguration(classNames: ["a"], inputSize: 8), ResNetConfiguration(classNames: ["a"], std: [1, 0, 1]),
                    ResNetConfiguration(classNames: ["a"], mean: [0.5])] {
            #expect(throws: ModelError.self) { try bad.validate() }
        }
    }
}

/// Adding metadata (the out-of-distribution statistics) to a model file keeps its weights byte for byte.
@Suite struct SafeTensorsMetadataTests {
    @Test func replacingMetadataKeepsTensorBytesAndOrder() throws {
        let tensors = ["a.weight": hashUniform("md.a", [3, 4], -1, 1), "b": Tensor(shape: [2], scalars: [0.5, -2])]
        for dtype in [SafeTensors.DType.f32, .f16] {
            let original = try SafeTensors.encode(tensors, metadata: ["cxreview.config": "{}"], dtype: dtype)
            let updated = try SafeTensors.replacingMetadata(in: original) { $0["cxreview.ood"] = String(repeating: "x", count: 1001) }
            let before = try SafeTensors.decode(original), after = try SafeTensors.decode(updated)
            #expect(after.tensors == before.tensors)
            #expect(after.metadata == ["cxreview.config": "{}", "cxreview.ood": String(repeating: "x", count: 1001)])
            // The data section (after the header) is the same bytes.
            func dataSection(_ d: Data) -> Data {
                let n = d.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
                #expect(n % 8 == 0)
                return d.subdata(in: (8 + n)..<d.count)
            }
            #expect(dataSection(updated) == dataSection(original))
            let removed = try SafeTensors.replacingMetadata(in: updated) { $0["cxreview.ood"] = nil }
            #expect(try SafeTensors.decode(removed).metadata == ["cxreview.config": "{}"])
        }
    }
}
