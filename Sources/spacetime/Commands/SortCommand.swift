import ArgumentParser

struct SortCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sort",
        abstract: "(not implemented yet)",
        shouldDisplay: false
    )

    func run() throws {
        throw ValidationError("'sort' is not implemented yet")
    }
}
