import ArgumentParser

@main
struct CXReviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cxreview",
        abstract: "Chest X-ray review: normal / viral pneumonia / COVID-19. Research use only. Not for diagnostic use.")
}
