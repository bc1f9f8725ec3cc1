import Foundation
import XRayCore

/// Loading weights that carry no `cxreview.config`: a plain torchvision state_dict, as
/// `safetensors.torch.save_file(model.state_dict(), path)` writes it.
extension ResNet18 {
    /// Where `load(contentsOf:classNames:)` took the configuration from.
    public enum ConfigurationSource: Sendable, Equatable {
        /// The file's `cxreview.config`.
        case stored
        /// The file has none: ImageNet mean and std at 224 px, no temperature (1), and class
        /// names from `classNames`.
        case assumed(classNames: ClassNamesOrigin)
    }

    /// Where the class names of a file without a configuration came from.
    public enum ClassNamesOrigin: Sendable, Equatable {
        /// Given by the caller.
        case given
        /// The file's out-of-distribution statistics (`cxreview.ood`) were fitted for them.
        case outOfDistributionStatistics
        /// The head has 3 outputs: taken to be the project's classes in its order.
        case projectOrder
    }

    /// Loads weights with their stored configuration or, when the file has none, an assumed one:
    /// ImageNet preprocessing at 224 px, temperature 1, as many classes as fc.weight has rows,
    /// named by `classNames`, else by the file's out-of-distribution statistics, else (3 rows)
    /// `ResNetConfiguration.projectClassNames`.
    ///
    /// - Parameter classNames: names for a file without a configuration, in logit order; for a
    ///   file with one they must equal its names.
    /// - Throws: `.unnamedClasses` when nothing names a head of other than 3 outputs; a class
    ///   count that disagrees with fc.weight; every missing, unexpected or mis-shaped tensor.
    public static func load(contentsOf url: URL, classNames: [String]?) throws(ModelError)
        -> (model: ResNet18, configuration: ConfigurationSource)
    {
        let (tensors, metadata) = try SafeTensors.read(contentsOf: url)
        let ood = metadata[OutOfDistributionStatistics.metadataKey]
        let configuration: ResNetConfiguration, source: ConfigurationSource
        if let json = metadata[ResNetConfiguration.metadataKey] {
            configuration = try ResNetConfiguration.decode(json: json)
            if let classNames, classNames != configuration.classNames {
                throw .invalidConfiguration(reason: "class names were given (--classes \(classNames.joined(separator: ","))), but the file's "
                    + "\(ResNetConfiguration.metadataKey) names its classes \(configuration.classNames.joined(separator: ",")); "
                    + "names can only be given for a file without one")
            }
            source = .stored
        } else {
            let outputs = headOutputs(WeightRemap.canonical(tensors))
            let names: [String], origin: ClassNamesOrigin
            if let classNames {
                (names, origin) = (classNames, .given)
            } else if let fitted = ood.flatMap(OutOfDistributionStatistics.classNames(json:)), outputs.map({ $0 == fitted.count }) ?? true {
                (names, origin) = (fitted, .outOfDistributionStatistics)
            } else if (outputs ?? ResNetConfiguration.projectClassNames.count) == ResNetConfiguration.projectClassNames.count {
                (names, origin) = (ResNetConfiguration.projectClassNames, .projectOrder)
            } else {
                throw .unnamedClasses(path: url.path, outputs: outputs!)
            }
            if let outputs, names.count != outputs {
                throw .invalidConfiguration(reason: "\(names.count) class names were given (--classes \(names.joined(separator: ","))) but "
                    + "fc.weight has shape [\(outputs), \(ResNet18Architecture.featureChannels)], one row per class; name \(outputs) classes in logit order")
            }
            configuration = ResNetConfiguration(classNames: names)
            source = .assumed(classNames: origin)
        }
        let statistics = try ood.map { (text) throws(ModelError) in
            try OutOfDistributionStatistics.decode(json: text, classNames: configuration.classNames)
        }
        return (try ResNet18(parameters: tensors, configuration: configuration, outOfDistribution: statistics), source)
    }

    /// The rows of fc.weight when it has resnet18's [classes, 512] form; nil otherwise (the
    /// parameter check then reports it with everything else).
    static func headOutputs(_ tensors: [String: Tensor]) -> Int? {
        guard let w = tensors["fc.weight"], w.shape.count == 2, w.shape[0] > 0, w.shape[1] == ResNet18Architecture.featureChannels else {
            return nil
        }
        return w.shape[0]
    }
}
