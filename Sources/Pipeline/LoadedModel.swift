import Foundation
import ResNet

/// A model file as the commands load it: the network, and what the user must be told about it
/// (an untrained model, or a plain PyTorch state_dict whose configuration had to be assumed).
public struct LoadedModel: Sendable {
    public let network: ResNet18
    public let url: URL
    /// The file's own `cxreview.config`, or an assumed one (no configuration in the file).
    public let configuration: ResNet18.ConfigurationSource
    /// One line each, to print as warnings and to put in JSON output.
    public let warnings: [String]

    /// Loads `url`; `classNames` (`--classes`) name the classes of a file without a configuration.
    public static func load(_ url: URL, classNames: [String]?) throws(ModelError) -> LoadedModel {
        let (network, source) = try ResNet18.load(contentsOf: url, classNames: classNames)
        return LoadedModel(network: network, url: url, configuration: source,
                           warnings: warnings(network, source, fileName: url.lastPathComponent))
    }

    /// Class names as `--classes` (and watch's `classes:`) give them: separated by commas, spaces
    /// around them dropped; nil when one is empty or repeated.
    public static func classNames(_ list: String) -> [String]? {
        let names = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return names.contains(where: \.isEmpty) || Set(names).count != names.count ? nil : names
    }

    static func warnings(_ network: ResNet18, _ source: ResNet18.ConfigurationSource, fileName: String) -> [String] {
        let c = network.configuration
        switch source {
        case .stored:
            guard c.trained != true else { return [] }
            return ["model \(fileName) is not a trained model" + (c.description.map { " (\($0))" } ?? "")
                + ": its probabilities show the pipeline working, not anything about the scans."]
        case let .assumed(origin):
            let names: String
            switch origin {
            case .given: names = "(as --classes names them)"
            case .outOfDistributionStatistics: names = "(as its out-of-distribution statistics name them); pass --classes to name them otherwise"
            case .projectOrder: names = "(the project's order); pass --classes to name them"
            }
            let ood = network.outOfDistribution == nil ? " and out-of-distribution checks are off (it has no cxreview.ood)" : ""
            return [
                "model \(fileName) has no cxreview config: assuming ImageNet preprocessing at \(c.inputSize) px and classes "
                    + "\(c.classNames.joined(separator: ", ")) \(names)",
                "its probabilities are uncalibrated (temperature 1)\(ood).",
            ]
        }
    }
}

extension ResNet18.ConfigurationSource {
    /// "stored" or "assumed", for JSON output.
    public var name: String {
        switch self {
        case .stored: return "stored"
        case .assumed: return "assumed"
        }
    }
}
