import Foundation
import Testing

@testable import ZeroMQ

/// Key files written by `spacetime keygen` and read by coordinators and workers.
@Suite(.serialized) struct CurveKeyFileTests {
    /// A fresh temporary directory, removed by `cleanUp()`.
    private struct Scratch {
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "curve-keys-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        func file(_ name: String) -> String { path + "/" + name }
        func write(_ name: String, _ text: String, mode: Int = 0o644) throws -> String {
            let file = file(name)
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            try CurveKeyFileTests.setMode(file, mode)
            return file
        }
        func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
    }

    private static func mode(of path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    private static func setMode(_ path: String, _ mode: Int) throws {
        try FileManager.default.setAttributes([.posixPermissions: NSNumber(value: mode)], ofItemAtPath: path)
    }

    /// Runs `body`, expecting a `CurveKeyFileError`, and returns it.
    private func failure<T>(_ body: () throws -> T) -> CurveKeyFileError? {
        do {
            _ = try body()
            return nil
        } catch let error as CurveKeyFileError {
            return error
        } catch {
            Issue.record("expected a CurveKeyFileError, got \(error)")
            return nil
        }
    }

    // MARK: Writing and reading back

    @Test func writtenPairReadsBackWithModes() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let directory = scratch.file("nested/keys")
        let pair = try CurveKeyPair.generate()
        let paths = try CurveKeyFiles.write(pair, toDirectory: directory)

        #expect(paths.publicKey == directory + "/curve.public")
        #expect(paths.secretKey == directory + "/curve.secret")
        #expect(try Self.mode(of: paths.publicKey) == 0o644)
        #expect(try Self.mode(of: paths.secretKey) == 0o600)
        #expect(try Self.mode(of: directory) == 0o700)
        let publicText = try String(contentsOfFile: paths.publicKey, encoding: .utf8)
        #expect(publicText == pair.publicKey.z85 + "\n")
        #expect(publicText.utf8.count == 41)
        #expect(try String(contentsOfFile: paths.secretKey, encoding: .utf8) == pair.secretKey.z85 + "\n")

        #expect(try CurveKeyFiles.loadPublicKey(at: paths.publicKey) == pair.publicKey)
        let loaded = try CurveKeyFiles.loadKeyPair(secretKeyAt: paths.secretKey)
        #expect(loaded == pair)
        // No temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["curve.public", "curve.secret"])
    }

    @Test func modesDoNotDependOnTheUmask() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let old = umask(0o077)
        defer { umask(old) }
        let paths = try CurveKeyFiles.write(try CurveKeyPair.generate(), toDirectory: scratch.path)
        #expect(try Self.mode(of: paths.publicKey) == 0o644)
        #expect(try Self.mode(of: paths.secretKey) == 0o600)
    }

    @Test func refusesToOverwriteUnlessAsked() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let first = try CurveKeyPair.generate()
        try CurveKeyFiles.write(first, toDirectory: scratch.path)
        let second = try CurveKeyPair.generate()

        let error = try #require(failure { try CurveKeyFiles.write(second, toDirectory: scratch.path) })
        #expect(error.code == .alreadyExists)
        #expect(error.message.contains("curve.secret already exists"))
        #expect(error.message.contains("--force"))
        #expect(try CurveKeyFiles.loadKeyPair(secretKeyAt: scratch.file("curve.secret")) == first)

        try CurveKeyFiles.write(second, toDirectory: scratch.path, overwrite: true)
        #expect(try CurveKeyFiles.loadKeyPair(secretKeyAt: scratch.file("curve.secret")) == second)
        #expect(try CurveKeyFiles.loadPublicKey(at: scratch.file("curve.public")) == second.publicKey)
    }

    @Test func derivesThePublicKeyFromTheSecret() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let pair = try CurveKeyPair.generate()
        // A secret alone (no curve.public beside it), with a comment and CRLF.
        let secret = try scratch.write("worker.secret", "# worker 3\r\n\(pair.secretKey.z85)\r\n", mode: 0o400)
        let loaded = try CurveKeyFiles.loadKeyPair(secretKeyAt: secret)
        #expect(loaded.publicKey == pair.publicKey)
    }

    @Test func mismatchedPublicKeyBesideTheSecretIsAnError() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let pair = try CurveKeyPair.generate()
        try CurveKeyFiles.write(pair, toDirectory: scratch.path)
        _ = try scratch.write("curve.public", try CurveKeyPair.generate().publicKey.z85 + "\n")
        let error = try #require(failure { try CurveKeyFiles.loadKeyPair(secretKeyAt: scratch.file("curve.secret")) })
        #expect(error.code == .keyMismatch)
        #expect(error.message.contains("does not belong to \(scratch.file("curve.secret"))"))
    }

    // MARK: Secret key permissions

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o620])
    func secretAccessibleByOthersIsRefused(mode: Int) throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let paths = try CurveKeyFiles.write(try CurveKeyPair.generate(), toDirectory: scratch.path)
        try Self.setMode(paths.secretKey, mode)
        let error = try #require(failure { try CurveKeyFiles.loadKeyPair(secretKeyAt: paths.secretKey) })
        #expect(error.code == .insecurePermissions)
        let octal = "0" + String(mode, radix: 8)
        if mode & 0o044 != 0 {
            #expect(error.message == "\(paths.secretKey) is readable by others (mode \(octal)); run chmod 600 \(paths.secretKey)")
        } else {
            #expect(error.message == "\(paths.secretKey) is accessible by others (mode \(octal)); run chmod 600 \(paths.secretKey)")
        }
    }

    @Test func publicKeyFilesMayBeWorldReadable() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let key = try CurveKeyPair.generate().publicKey
        let file = try scratch.write("k.public", key.z85 + "\n", mode: 0o644)
        #expect(try CurveKeyFiles.loadPublicKey(at: file) == key)
    }

    @Test func missingFileIsNamed() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let path = scratch.file("nope/curve.secret")
        let error = try #require(failure { try CurveKeyFiles.loadKeyPair(secretKeyAt: path) })
        #expect(error.code == .notFound)
        #expect(error.message == "\(path) does not exist")
    }

    @Test func directoryIsNotAKeyFile() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let error = try #require(failure { try CurveKeyFiles.loadPublicKey(at: scratch.path) })
        #expect(error.code == .unreadable)
        #expect(error.message.contains("not a regular file"))
    }

    // MARK: Malformed contents

    @Test func wrongLengthNamesLineAndLength() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let key = try CurveKeyPair.generate().publicKey.z85
        let file = try scratch.write("short.public", "# comment\n\n  \(key.dropLast(3))\n")
        let error = try #require(failure { try CurveKeyFiles.loadPublicKey(at: file) })
        #expect(error.code == .malformed)
        #expect(error.line == 3)
        #expect(error.column == 3)
        #expect(error.message == "\(file):3:3: a Z85 CURVE key has 40 characters, this one has 37")
    }

    @Test func nonZ85CharacterNamesLineAndColumn() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        var key = Array(try CurveKeyPair.generate().publicKey.z85)
        key[10] = "\""  // not in the Z85 alphabet
        let file = try scratch.write("bad.public", String(key) + "\n")
        let error = try #require(failure { try CurveKeyFiles.loadPublicKey(at: file) })
        #expect(error.code == .malformed)
        #expect(error.line == 1)
        #expect(error.column == 11)
        #expect(error.message.hasPrefix("\(file):1:11: '\"' is not a Z85 character"))
    }

    @Test func nonUTF8BytesAreMalformedNotACrash() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let file = scratch.file("binary.public")
        try Data([0x41, 0xFF, 0xFE, 0x00, 0x0A]).write(to: URL(fileURLWithPath: file))
        let error = try #require(failure { try CurveKeyFiles.loadPublicKey(at: file) })
        #expect(error.code == .malformed)
        #expect(error.line == 1)
        #expect(error.column == 2)
    }

    @Test func overflowingZ85GroupIsMalformed() throws {
        // "%%%%%" is 82 * (85^4 + 85^3 + 85^2 + 85 + 1) > 2^32: valid characters, invalid key.
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let file = try scratch.write(
            "overflow.public", String(repeating: "0", count: 10) + "%%%%%" + String(repeating: "0", count: 25) + "\n")
        let error = try #require(failure { try CurveKeyFiles.loadPublicKey(at: file) })
        #expect(error.code == .malformed)
        #expect(error.line == 1)
        #expect(error.message.contains("exceeds 32 bits"))
    }

    @Test func trailingTextAndCommentsAfterTheKey() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let key = try CurveKeyPair.generate().publicKey
        let commented = try scratch.write("a.public", "\(key.z85)   # worker-1 on host b\n")
        #expect(try CurveKeyFiles.loadPublicKey(at: commented) == key)

        let junk = try scratch.write("b.public", "\(key.z85) worker-1\n")
        let error = try #require(failure { try CurveKeyFiles.loadPublicKey(at: junk) })
        #expect(error.code == .malformed)
        #expect(error.message == "\(junk):1:42: unexpected text after the key (one key per line; comments start with #)")
    }

    @Test func emptyAndDoubleKeyFiles() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let empty = try scratch.write("empty.public", "# nothing here\n\n")
        #expect(failure { try CurveKeyFiles.loadPublicKey(at: empty) }?.code == .noKeys)

        let a = try CurveKeyPair.generate()
        let b = try CurveKeyPair.generate()
        let two = try scratch.write("two.secret", "\(a.secretKey.z85)\n\(b.secretKey.z85)\n", mode: 0o600)
        let error = try #require(failure { try CurveKeyFiles.loadKeyPair(secretKeyAt: two) })
        #expect(error.code == .tooManyKeys)
        #expect(error.line == 2)
    }

    @Test func noKeyStartsWithHashSoHashLinesAreComments() throws {
        // A 32-byte key's first Z85 digit is at most 82 ('%'); '#' is 84.
        for _ in 0..<2000 {
            let key = try CurveKeyPair.generate().publicKey
            #expect(!key.z85.hasPrefix("#") && !key.z85.hasPrefix("$"))
        }
        let maximum = try CurvePublicKey(bytes: [UInt8](repeating: 0xFF, count: 32))
        #expect(maximum.z85.hasPrefix("%"))
        let key = try CurveKeyPair.generate().publicKey
        // A 40-character comment made of Z85 characters is still a comment.
        let text = "#" + String(repeating: "-", count: 39) + "\n\(key.z85)\n"
        let entries = try CurveKeyFiles.parseKeys(text, path: "list")
        #expect(entries.map(\.key) == [key])
        #expect(entries.map(\.line) == [2])
    }

    // MARK: Allow-lists

    @Test func allowListFromAFile() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let keys = try (0..<3).map { _ in try CurveKeyPair.generate().publicKey }
        let file = try scratch.write(
            "workers.txt",
            """
            # workers allowed to join
            \(keys[0].z85)  # host b

            \(keys[1].z85)
            \t\(keys[2].z85)\t# host d

            """)
        let entries = try CurveKeyFiles.loadAllowList(at: file)
        #expect(entries.map(\.key) == keys)
        #expect(entries.map(\.line) == [2, 4, 5])
        #expect(entries.allSatisfy { $0.path == file })
    }

    @Test func allowListFromADirectoryOfPublicFiles() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let directory = scratch.file("allowed")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let b = try CurveKeyPair.generate().publicKey
        let a = try CurveKeyPair.generate().publicKey
        let ignored = try CurveKeyPair.generate().publicKey
        try Data((b.z85 + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/worker-b.public"))
        try Data((a.z85 + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/worker-a.public"))
        // Not *.public, hidden, or a directory: ignored (a mounted Kubernetes Secret has ..data links).
        try Data((ignored.z85 + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/README"))
        try Data((ignored.z85 + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/.old.public"))
        try FileManager.default.createDirectory(atPath: directory + "/sub.public", withIntermediateDirectories: false)
        // Symbolic links are followed.
        let target = try scratch.write("elsewhere.public", (try CurveKeyPair.generate().publicKey).z85 + "\n")
        try FileManager.default.createSymbolicLink(atPath: directory + "/worker-c.public", withDestinationPath: target)

        let entries = try CurveKeyFiles.loadAllowList(at: directory)
        #expect(entries.count == 3)
        #expect(entries[0].key == a)
        #expect(entries[0].path == directory + "/worker-a.public")
        #expect(entries[1].key == b)
        #expect(!entries.contains { $0.key == ignored })
    }

    @Test func duplicateKeysAreAnError() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let key = try CurveKeyPair.generate().publicKey
        let other = try CurveKeyPair.generate().publicKey
        let file = try scratch.write("workers.txt", "\(key.z85)\n\(other.z85)\n\(key.z85)\n")
        let error = try #require(failure { try CurveKeyFiles.loadAllowList(at: file) })
        #expect(error.code == .duplicateKey)
        #expect(error.line == 3)
        #expect(error.message == "\(file):3: key \(key.fingerprint)… is listed twice (first at \(file):1); remove one")

        let directory = scratch.file("dir")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data((key.z85 + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/a.public"))
        try Data((key.z85 + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/b.public"))
        let across = try #require(failure { try CurveKeyFiles.loadAllowList(at: directory) })
        #expect(across.code == .duplicateKey)
        #expect(across.path == directory + "/b.public")
        #expect(across.message.contains("first at \(directory)/a.public:1"))
    }

    @Test func emptyAllowListsAreAnError() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let directory = scratch.file("empty")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try scratch.write("empty/notes.txt", "not a key file\n")
        let error = try #require(failure { try CurveKeyFiles.loadAllowList(at: directory) })
        #expect(error.code == .noKeys)
        #expect(error.message.contains("no *.public files"))

        let emptyPublic = try scratch.write("empty/w.public", "\n# no key yet\n")
        let inFile = try #require(failure { try CurveKeyFiles.loadAllowList(at: directory) })
        #expect(inFile.code == .noKeys)
        #expect(inFile.path == emptyPublic)

        let file = try scratch.write("list.txt", "# only comments\n")
        #expect(failure { try CurveKeyFiles.loadAllowList(at: file) }?.code == .noKeys)
        #expect(failure { try CurveKeyFiles.loadAllowList(at: scratch.file("missing")) }?.code == .notFound)
    }

    @Test func malformedAllowListLineIsNamed() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let key = try CurveKeyPair.generate().publicKey
        let file = try scratch.write("workers.txt", "\(key.z85)\nnot-a-key\n")
        let error = try #require(failure { try CurveKeyFiles.loadAllowList(at: file) })
        #expect(error.code == .malformed)
        #expect(error.path == file)
        #expect(error.line == 2)
    }
}
