/// What `cxreview --version` prints.
enum CXReviewVersion {
    /// Raised with each release that changes behaviour a user can see.
    static let release = "0.9.0"

    static var description: String {
        "cxreview \(release); research use only, not for diagnostic use"
    }
}
