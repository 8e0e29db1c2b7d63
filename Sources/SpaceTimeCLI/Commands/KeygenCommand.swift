import ArgumentParser
import Foundation
import ZeroMQ

/// `spacetime keygen`: writes a CURVE key pair for a coordinator or a worker.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair (DIR/curve.public, DIR/curve.secret) for encrypted, authenticated transport.",
        discussion: """
            curve.public (mode 0644) holds the public key as 40 Z85 characters: give a \
            worker's public key to the coordinator's --allow-workers list, and the \
            coordinator's to every worker's --coordinator-key. curve.secret (mode 0600) \
            never leaves the machine. DIR is created (mode 0700) if missing. Existing \
            key files are kept unless --force is given.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Directory to write curve.public and curve.secret into.", valueName: "DIR"))
    var out: String

    @Flag(help: "Replace an existing key pair in DIR.")
    var force = false

    func run() throws {
        // Errors (CurveKeyFileError, ZMQError) print as one sentence naming the file.
        let keyPair = try CurveKeyPair.generate()
        let paths = try CurveKeyFiles.write(keyPair, toDirectory: out, overwrite: force)
        try Output.print(
            """
            wrote \(paths.publicKey) (public key, share it)
            wrote \(paths.secretKey) (secret key, mode 0600, keep it on this machine)
            public key \(keyPair.publicKey.z85)  fingerprint \(keyPair.publicKey.fingerprint)
            """)
    }
}
