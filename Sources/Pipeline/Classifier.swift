import CAM
import Foundation
import Preprocessing
import Reporting
import ResNet
import XRayCore

/// Decode → preprocess → ResNet18 → softmax (→ saliency) for a list of files, in batches: files in,
/// values out (`Classification`, or `ClassifiedScan` for a report). It never writes anything.
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

    /// One result per input, in input order: the classification only (no image or saliency is kept).
    public func classify(_ urls: [URL], batchSize: Int = 8) -> [Result<Classification, PipelineError>] {
        precondition(batchSize > 0)
        var results: [Result<Classification, PipelineError>] = []
        results.reserveCapacity(urls.count)
        var start = 0
        while start < urls.count {
            let chunk = Array(urls[start..<min(start + batchSize, urls.count)])
            results += run(chunk, saliency: nil).map { $0.map(\.classification) }
            start += chunk.count
        }
        return results
    }

    /// One forward pass over `urls` (a batch: the caller chooses its size): one value per input, in
    /// input order, each with the decoded scan and the saliency map of its predicted class, all a
    /// report needs. The scans are held until the batch is done, so keep batches small.
    public func classifyForReport(_ urls: [URL], saliency: Saliency) -> [Result<ClassifiedScan, PipelineError>] {
        run(urls, saliency: saliency).map { r in
            r.map { ClassifiedScan(classification: $0.classification, scan: $0.scan!, saliency: $0.saliency!,
                                   saliencyMethod: saliency, features: $0.features) }
        }
    }

    private struct Prepared {
        let url: URL
        /// Kept only when a saliency map is asked for (a report needs the full image).
        let scan: DecodedScan?
        let metadata: ScanMetadata
        let notes: DecodingNotes
        let input: Tensor
        /// The decoded image's width and height, for the scope check.
        let size: (width: Int, height: Int)
        let decodeMs: Double
        let preprocessMs: Double
    }

    private struct Value {
        let classification: Classification
        let scan: DecodedScan?
        let saliency: ActivationMap?
        let features: [Float]
    }

    private func run(_ urls: [URL], saliency: Saliency?) -> [Result<Value, PipelineError>] {
        // Decode and preprocess one file at a time, keeping only the small input tensor (and the
        // full image only when a saliency map is asked for), so large scans do not pile up in memory.
        var slots: [Result<Prepared, PipelineError>] = []
        for url in urls {
            let t0 = DispatchTime.now()
            do {
                let scan = try loader.load(url)
                let t1 = DispatchTime.now()
                let input = preprocessor.tensor(from: [scan.image])
                let t2 = DispatchTime.now()
                slots.append(.success(Prepared(
                    url: url, scan: saliency == nil ? nil : scan, metadata: scan.metadata, notes: scan.notes, input: input,
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
        let classes = model.configuration.classNames

        var next = 0
        return slots.map { slot in
            slot.map { p in
                let row = next
                next += 1
                let logits = Array(output.logits.scalars[row * logitsPerRow..<(row + 1) * logitsPerRow])
                let probs = TemperatureScaling.probabilities(logits, temperature: temperature)
                let best = probs.indices.max { probs[$0] < probs[$1] }!
                let features = output.pooledFeatures(row: row)
                let ood = outOfDistribution(features)
                let warnings = ScanWarning.assess(
                    probabilities: probs, metadata: p.notes.format == .dicom ? p.metadata : nil,
                    size: p.size, outOfDistribution: ood.warning(template),
                    predictedClass: classes[best], trainedClasses: model.configuration.trainedClasses, template: template)
                let c = Classification(
                    file: p.url.relativePath,
                    predictedClass: classes[best],
                    probabilities: zip(classes, probs).map { .init(className: $0, probability: $1) },
                    logits: logits,
                    decoding: p.notes,
                    decodingSummary: p.notes.summary,
                    study: .init(p.metadata),
                    timing: .init(decodeMs: p.decodeMs, preprocessMs: p.preprocessMs, forwardMs: forwardShare),
                    outOfDistribution: ood, warnings: warnings)
                let map = saliency.map { $0.map(network: model, output: output, row: row, input: p.input, classIndex: best) }
                return Value(classification: c, scan: p.scan, saliency: map, features: features)
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

    /// The out-of-distribution check of an image's pooled layer4 features, or `.notAvailable` without statistics.
    func outOfDistribution(_ features: [Float]) -> Classification.OutOfDistributionCheck {
        guard let stats = model.outOfDistribution else { return .notAvailable }
        let score = stats.score(features)
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
