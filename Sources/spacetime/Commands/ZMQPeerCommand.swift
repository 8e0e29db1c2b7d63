import ArgumentParser

struct ZMQPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zmq-peer",
        abstract: "(not implemented yet)",
        shouldDisplay: false
    )

    func run() throws {
        throw ValidationError("'zmqpeer' is not implemented yet")
    }
}
