/// The codes the results use: SNOMED CT for the project's classes, CXReview's own (scheme `99CXR`) where no
/// standard concept fits.
enum ResultCodes {
    struct Code: Sendable, Equatable {
        let value: String
        let scheme: String
        let meaning: String
    }

    static let localScheme = "99CXR"
    static let localSchemeName = "CXReview local codes"

    static let predictedClass = Code(value: "PREDICTED-CLASS", scheme: localScheme, meaning: "Predicted class")
    static let outOfDistribution = Code(value: "OOD", scheme: localScheme, meaning: "Out of distribution")

    /// The finding a class name stands for: SNOMED CT for normal, viral pneumonia and COVID-19; otherwise a
    /// local code from the name.
    static func finding(_ className: String) -> Code {
        switch className.lowercased() {
        case "normal", "no finding": return Code(value: "17621005", scheme: "SCT", meaning: "Normal")
        case "viral", "viral pneumonia", "viral_pneumonia", "pneumonia_viral":
            return Code(value: "75570004", scheme: "SCT", meaning: "Viral pneumonia")
        case "covid", "covid-19", "covid19", "covid_19":
            return Code(value: "840539006", scheme: "SCT", meaning: "COVID-19")
        default: return Code(value: localValue("C-", className), scheme: localScheme, meaning: className)
        }
    }

    /// The concept of a class's probability measurement (local: no standard code names "probability of X").
    static func probability(_ className: String) -> Code {
        Code(value: localValue("P-", className), scheme: localScheme, meaning: "Probability of \(finding(className).meaning)")
    }

    /// `prefix` + the name's letters and digits, upper-case, at most 16 characters (a Code Value is SH).
    private static func localValue(_ prefix: String, _ name: String) -> String {
        let kept = name.uppercased().unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }
        let body = String(String.UnicodeScalarView(kept)).prefix(16 - prefix.count)
        return prefix + (body.isEmpty ? "CLASS" : body)
    }
}
