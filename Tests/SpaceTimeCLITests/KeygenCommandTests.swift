import Foundation
import TestSupport
import Testing
import ZeroMQ

/// `spacetime keygen`: writes a CURVE key pair with its modes, refuses to overwrite, `--force` replaces.
@Suite struct KeygenCommandTests {
    /// Runs the built `spacetime`; standard error and output together.
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try E2E.capture(arguments)
        return (result.status, result.err + result.out)
    }

    private static func mode(of path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func keygenCommandWritesRefusesAndForces() throws {
        let scratch = TempDir("keygen")
        defer { scratch.cleanup() }
        let directory = scratch.file("worker")
        let first = try run(["keygen", "--out", directory])
        #expect(first.status == 0, "\(first.output)")
        let pair = try CurveKeyFiles.loadKeyPair(secretKeyAt: directory + "/curve.secret")
        #expect(first.output.contains("public key \(pair.publicKey.z85)"))
        #expect(try Self.mode(of: directory + "/curve.secret") == 0o600)
        #expect(try Self.mode(of: directory + "/curve.public") == 0o644)

        let again = try run(["keygen", "--out", directory])
        #expect(again.status != 0)
        #expect(again.output.contains("\(directory)/curve.secret already exists"))
        #expect(try CurveKeyFiles.loadKeyPair(secretKeyAt: directory + "/curve.secret") == pair)

        let forced = try run(["keygen", "--out", directory, "--force"])
        #expect(forced.status == 0, "\(forced.output)")
        let replaced = try CurveKeyFiles.loadKeyPair(secretKeyAt: directory + "/curve.secret")
        #expect(replaced != pair)
        #expect(try CurveKeyFiles.loadPublicKey(at: directory + "/curve.public") == replaced.publicKey)
    }
}
