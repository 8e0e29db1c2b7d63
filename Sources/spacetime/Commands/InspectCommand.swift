import ArgumentParser

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "(not implemented yet)",
        shouldDisplay: false
    )

    func run() throws {
        throw ValidationError("'inspect' is not implemented yet")
    }
}
