import ArgumentParser

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "(not implemented yet)",
        shouldDisplay: false
    )

    func run() throws {
        throw ValidationError("'generate' is not implemented yet")
    }
}
