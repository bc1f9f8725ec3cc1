/// Why a model, its weights or its configuration could not be loaded or saved.
public indirect enum ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A parameter the architecture needs is not in the weights.
    case missingTensor(name: String)
    /// The weights hold a tensor the architecture has no place for.
    case unexpectedTensor(name: String)
    /// A tensor has the wrong shape.
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    /// Several of the problems above at once, all listed.
    case parameterProblems([ModelError])
    /// fc.weight has a different number of rows than the configuration has class names.
    case classCountMismatch(classNames: Int, fcRows: Int)
    /// The configuration is unusable (reason says which field).
    case invalidConfiguration(reason: String)
    /// A weights file has no "cxreview.config" entry in its safetensors metadata.
    case missingConfiguration(path: String)
    /// A weights file has no configuration and its head's class count has no default names.
    case unnamedClasses(path: String, outputs: Int)
    /// The file could not be read at all.
    case unreadable(path: String, reason: String)
    /// The file was read but is not a valid safetensors file (or holds an unsupported dtype).
    case malformed(path: String, reason: String)
    /// The file could not be written.
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingTensor(let name):
            return "the weights have no tensor \"\(name)\"; export the full torchvision resnet18 state_dict (model.state_dict()), not a subset"
        case .unexpectedTensor(let name):
            return "the weights hold \"\(name)\", which torchvision's resnet18 does not have; check that the file is a resnet18 state_dict with torchvision names"
        case .shapeMismatch(let name, let expected, let found):
            return "tensor \"\(name)\" has shape \(found) but resnet18 needs \(expected); the file is probably a different architecture or was saved transposed"
        case .parameterProblems(let problems):
            return "the weights do not fit resnet18 (\(problems.count) problems):\n"
                + problems.map { "  - \($0.description)" }.joined(separator: "\n")
        case .classCountMismatch(let classNames, let fcRows):
            return "fc.weight has \(fcRows) rows (classes) but the configuration names \(classNames) classes; make classNames match the trained head, or fine-tune a new head"
        case .invalidConfiguration(let reason):
            return "invalid model configuration: \(reason)"
        case .missingConfiguration(let path):
            return "\(path) has no \"\(ResNetConfiguration.metadataKey)\" entry in its safetensors __metadata__, so its class names and preprocessing are unknown; load it as plain torchvision weights (naming the classes) or re-save it with a configuration"
        case .unnamedClasses(let path, let outputs):
            return "\(path) has no \"\(ResNetConfiguration.metadataKey)\" entry in its safetensors __metadata__ and its fc layer has \(outputs) outputs, so its class names cannot be assumed (only a 3-output head is taken to be \(ResNetConfiguration.projectClassNames.joined(separator: ", "))); name the \(outputs) classes in logit order with --classes"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason); check that the path exists and is readable"
        case .malformed(let path, let reason):
            return "\(path) is not a usable safetensors file: \(reason); re-export it with safetensors.torch.save_file"
        case .unwritable(let path, let reason):
            return "cannot write \(path): \(reason); check the directory exists and is writable, and that there is disk space"
        }
    }
}
