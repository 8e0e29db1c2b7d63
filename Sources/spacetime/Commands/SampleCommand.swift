import ArgumentParser

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "(not implemented yet)",
        shouldDisplay: false
    )

    func run() throws {
        throw ValidationError("'sample' is not implemented yet")
    }
}
