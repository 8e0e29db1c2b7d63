import Foundation
import TestSupport
import Testing

@testable import SpaceTime

@Suite struct XXHash64Tests {
    /// Reference values from Python `xxhash.xxh64(data, seed).intdigest()` (xxhash 3.x).
    @Test func matchesReferenceVectors() {
        #expect(XXHash64.hash([UInt8]()) == 0xEF46_DB37_51D8_E999)
        #expect(XXHash64.hash("a") == 0xD24E_C4F1_A98C_6E5B)
        #expect(XXHash64.hash("abc") == 0x44BC_2CF5_AD77_0999)
        #expect(XXHash64.hash("abc", seed: 1) == 0xBEA9_CA81_9932_8908)
        #expect(XXHash64.hash("Nobody inspects the spammish repetition") == 0xFBCE_A83C_8A37_8BF1)
        let ramp = (0..<3).flatMap { _ in (0..<256).map { UInt8($0) } }
        #expect(XXHash64.hash(ramp) == 0x8E03_C838_C596_036F)
        #expect(XXHash64.hash((0..<100).map { UInt8($0) }, seed: 12345) == 0x028B_A1AE_2DE4_DE27)
    }

    /// Property: feeding bytes in arbitrary pieces gives the one-shot hash.
    @Test func streamingEqualsOneShot() {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var h = XXHash64(seed: 99)
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...40, using: &rng)
                h.update(bytes[i..<min(i + n, bytes.count)])
                i += n
            }
            #expect(h.finalize() == XXHash64.hash(bytes, seed: 99))
        }
    }

    @Test func splitMixIsStable() {
        var g = SplitMix64(seed: 0)
        // First outputs of the reference SplitMix64 with seed 0.
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
        var h = SplitMix64(seed: 5)
        for _ in 0..<1000 { #expect(h.next(below: 7) < 7) }
    }
}

@Suite struct CheckpointFileTests {
    let kind = CheckpointFile.kind("TEST")

    @Test func roundTripAndReplace() throws {
        let dir = TempDir("ck")
        defer { dir.cleanup() }
        let path = dir.file("a.ckpt")
        try CheckpointFile.write(Array("hello".utf8), to: path, kind: kind, version: 3)
        var c = try CheckpointFile.read(path, kind: kind)
        #expect(c.payload == Array("hello".utf8) && c.version == 3 && c.kind == kind)
        let big = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try CheckpointFile.write(big, to: path, kind: kind)
        c = try CheckpointFile.read(path)
        #expect(c.payload == big)
        try CheckpointFile.write([], to: path, kind: kind)
        #expect(try CheckpointFile.read(path).payload.isEmpty)
        // No temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.ckpt"])
    }

    @Test func detectsTruncationAtEveryLength() throws {
        let dir = TempDir("ck")
        defer { dir.cleanup() }
        let path = dir.file("t.ckpt")
        try CheckpointFile.write((0..<100).map { UInt8($0) }, to: path, kind: kind)
        let full = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        for n in 0..<full.count {
            let p = dir.write("cut.ckpt", bytes: Array(full[0..<n]))
            #expect(throws: CheckpointError.self) { _ = try CheckpointFile.read(p) }
            do { _ = try CheckpointFile.read(p) } catch {
                #expect([.truncated, .notACheckpoint].contains(error.code), "length \(n): \(error)")
                if n >= 40 { #expect(error.code == .truncated && error.description.contains("truncated")) }
            }
        }
    }

    @Test func detectsEveryFlippedByte() throws {
        let dir = TempDir("ck")
        defer { dir.cleanup() }
        let path = dir.file("c.ckpt")
        try CheckpointFile.write((0..<64).map { UInt8($0) }, to: path, kind: kind)
        let full = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        for i in 0..<full.count {
            var bad = full
            bad[i] ^= 0x10
            let p = dir.write("bad.ckpt", bytes: bad)
            #expect(throws: CheckpointError.self, "byte \(i)") { _ = try CheckpointFile.read(p) }
        }
        let p = dir.write("long.ckpt", bytes: full + [0])
        #expect { _ = try CheckpointFile.read(p) } throws: { ($0 as? CheckpointError)?.code == .corrupt }
    }

    @Test func wrongKindAndNotACheckpoint() throws {
        let dir = TempDir("ck")
        defer { dir.cleanup() }
        let path = dir.file("k.ckpt")
        try CheckpointFile.write([1, 2, 3], to: path, kind: kind)
        #expect { _ = try CheckpointFile.read(path, kind: CheckpointFile.kind("TREE")) } throws: {
            ($0 as? CheckpointError)?.description == "checkpoint \(path): holds a `TEST` checkpoint, expected `TREE`"
        }
        let p = dir.write("x.ckpt", "just some text that is long enough to hold a header ......")
        #expect { _ = try CheckpointFile.read(p) } throws: { ($0 as? CheckpointError)?.code == .notACheckpoint }
        #expect { _ = try CheckpointFile.read(dir.file("missing")) } throws: { ($0 as? CheckpointError)?.code == .io }
    }

    @Test func abortedWriterLeavesOldFile() throws {
        let dir = TempDir("ck")
        defer { dir.cleanup() }
        let path = dir.file("o.ckpt")
        try CheckpointFile.write([9], to: path, kind: kind)
        do {
            let w = try CheckpointWriter(path: path, kind: kind)
            try w.append([1, 2, 3])
            w.abort()
        }
        do {
            let w = try CheckpointWriter(path: path, kind: kind)
            try w.append([4, 5])
            // dropped without commit
            _ = w
        }
        #expect(try CheckpointFile.read(path).payload == [9])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["o.ckpt"])
    }
}
