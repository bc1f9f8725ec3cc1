import Foundation
import Preprocessing
import Reporting
import ResNet
import XRayCore

/// Decode → preprocess → ResNet18 → softmax for a list of files, in batches.
///
/// A file that fails is reported with its stage and reason and never stops the others.
public struct Classifier: Sendable {
    public let model: ResNet18
    public let preprocessor: Preprocessor
    /// Decodes the files: in this process by default; `IsolatedScanLoader` for untrusted input.
    public let loader: any ScanLoading
    public let threads: Int
    /// The language and low-confidence threshold of the results' `warnings` (the report's template).
    public var template: ReportTemplate

    public init(model: ResNet18, threads: Int = 2, template: ReportTemplate = .default, loader: any ScanLoading = ScanLoader()) {
        self.loader = loader
        let c = model.configuration
        self.model = model
        self.preprocessor = Preprocessor(inputSize: c.inputSize, mean: c.mean, std: c.std)
        self.threads = threads
        self.template = template
    }

    /// Called for each classified file with its decoded scan and the batch's network output (and
    /// the file's row in it), e.g. to write a report; an error marks that file as failed.
    public typealias ReportHook = (Classification, DecodedScan, ResNetOutput, Int) throws(PipelineError) -> Void

    /// One result per input, in input order.
    public func classify(_ urls: [URL], batchSize: Int = 8, report: ReportHook? = nil) -> [Result<Classification, PipelineError>] {
        precondition(batchSize > 0)
        var results: [Result<Classification, PipelineError>] = []
        results.reserveCapacity(urls.count)
        var start = 0
        while start < urls.count {
            let chunk = Array(urls[start..<min(start + batchSize, urls.count)])
            results += classifyBatch(chunk, report: report)
            start += chunk.count
        }
        return results
    }

    private struct Prepared {
        let url: URL
        let metadata: ScanMetadata
        let notes: DecodingNotes
        /// Kept only when a report needs the full image.
        let scan: DecodedScan?
        let input: Tensor
        /// The decoded image's width and height, for the scope check.
        let size: (width: Int, height: Int)
        let decodeMs: Double
        let preprocessMs: Double
    }

    private func classifyBatch(_ urls: [URL], report: ReportHook?) -> [Result<Classification, PipelineError>] {
        // Decode and preprocess one file at a time, keeping only the small input tensor (and the
        // full image only when a report needs it), so large scans do not pile up in memory.
        var slots: [Result<Prepared, PipelineError>] = []
        for url in urls {
            let t0 = DispatchTime.now()
            do {
                let scan = try loader.load(url)
                let t1 = DispatchTime.now()
                let input = preprocessor.tensor(from: [scan.image])
                let t2 = DispatchTime.now()
                slots.append(.success(Prepared(
                    url: url, metadata: scan.metadata, notes: scan.notes, scan: report == nil ? nil : scan, input: input,
                    size: (scan.image.width, scan.image.height),
                    decodeMs: Self.ms(t0, t1), preprocessMs: Self.ms(t1, t2))))
            } catch {
                slots.append(.failure(error))
            }
        }
        let ready = slots.compactMap { try? $0.get() }
        guard !ready.isEmpty else {
            return slots.compactMap { slot in
                if case let .failure(e) = slot { return .failure(e) } else { return nil }
            }
        }

        let size = model.configuration.inputSize
        var batch = [Float]()
        batch.reserveCapacity(ready.count * 3 * size * size)
        for p in ready { batch += p.input.scalars }
        let t0 = DispatchTime.now()
        let output = model.forward(Tensor(shape: [ready.count, 3, size, size], scalars: batch), threads: threads)
        let forwardShare = Self.ms(t0, DispatchTime.now()) / Double(ready.count)
        // Calibrated probabilities: softmax(logits / T) with the model's fitted temperature.
        let temperature = model.configuration.temperature ?? 1
        let logitsPerRow = output.logits.shape[1]
        let probabilities = (0..<ready.count).map { row in
            TemperatureScaling.probabilities(
                Array(output.logits.scalars[row * logitsPerRow..<(row + 1) * logitsPerRow]), temperature: temperature)
        }
        let classes = model.configuration.classNames

        var next = 0
        return slots.map { slot in
            slot.flatMap { p in
                let row = next
                next += 1
                let probs = probabilities[row]
                let best = probs.indices.max { probs[$0] < probs[$1] }!
                let ood = outOfDistribution(output, row: row)
                let warnings = ScanWarning.assess(
                    probabilities: probs, metadata: p.notes.format == .dicom ? p.metadata : nil,
                    size: p.size, outOfDistribution: ood.warning(template), template: template)
                let c = Classification(
                    file: p.url.relativePath,
                    predictedClass: classes[best],
                    probabilities: zip(classes, probs).map { .init(className: $0, probability: $1) },
                    logits: Array(output.logits.scalars[row * logitsPerRow..<(row + 1) * logitsPerRow]),
                    decoding: p.notes,
                    decodingSummary: p.notes.summary,
                    study: .init(p.metadata),
                    timing: .init(decodeMs: p.decodeMs, preprocessMs: p.preprocessMs, forwardMs: forwardShare),
                    outOfDistribution: ood, warnings: warnings)
                guard let report, let scan = p.scan else { return .success(c) }
                do throws(PipelineError) {
                    try report(c, scan, output, row)
                    return .success(c)
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    /// Logits for images already at the network's input size (as `LabelledScans` holds them),
    /// `batchSize` at a time. Images of another size are resized the same way first.
    public func logits(for images: [GrayImage], batchSize: Int = 16) -> [[Float]] {
        perImage(images, batchSize: batchSize) { output, r in
            let k = output.logits.shape[1]
            return Array(output.logits.scalars[r * k..<(r + 1) * k])
        }
    }

    /// `extract(output, row)` for each image, running the network `batchSize` images at a time.
    private func perImage<T>(_ images: [GrayImage], batchSize: Int, _ extract: (ResNetOutput, Int) -> T) -> [T] {
        var out: [T] = []
        out.reserveCapacity(images.count)
        var start = 0
        while start < images.count {
            let chunk = Array(images[start..<min(start + batchSize, images.count)])
            let output = model.forward(preprocessor.tensor(from: chunk), threads: threads)
            for r in 0..<chunk.count { out.append(extract(output, r)) }
            start += chunk.count
        }
        return out
    }

    /// The out-of-distribution check of image `row`, or `.notAvailable` without statistics.
    func outOfDistribution(_ output: ResNetOutput, row: Int) -> Classification.OutOfDistributionCheck {
        guard let stats = model.outOfDistribution else { return .notAvailable }
        let score = stats.score(output.pooledFeatures(row: row))
        return .init(checked: true, score: score, threshold: stats.threshold, percentile: stats.percentile,
                     flagged: stats.isOutOfDistribution(score: score), note: nil)
    }

    /// Pooled layer4 features [512] for images already at the network's input size, like `logits(for:)`.
    public func pooledFeatures(for images: [GrayImage], batchSize: Int = 16) -> [[Float]] {
        perImage(images, batchSize: batchSize) { output, r in output.pooledFeatures(row: r) }
    }

    static func ms(_ a: DispatchTime, _ b: DispatchTime) -> Double {
        Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e6
    }
}
