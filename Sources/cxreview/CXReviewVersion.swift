import Pipeline

/// What `cxreview --version` prints: the release the reports name as their software.
enum CXReviewVersion {
    static var description: String {
        "cxreview \(ReportWriter.softwareVersion); research use only, not for diagnostic use"
    }
}
