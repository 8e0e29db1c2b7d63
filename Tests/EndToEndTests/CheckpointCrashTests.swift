import Foundation
import TestSupport
import Testing

@testable import SpaceTime

/// kill -9 during large checkpoint writes: the checkpoint on disk is always a complete, valid one.
@Suite(.serialized) struct CheckpointCrashTests {
    static let envPath = "SPACETIME_TEST_CHECKPOINT_WRITER"

    /// Child-process role: when started by `killDuringWriteLeavesValidCheckpoint` (environment
    /// variable set), rewrites a large checkpoint forever until killed. Otherwise does nothing.
    @Test func checkpointWriterChildRole() throws {
        guard let path = ProcessInfo.processInfo.environment[Self.envPath] else { return }
        var generation: UInt64 = 1
        while true {
            try CheckpointFile.write(Self.payload(generation: generation), to: path, kind: CheckpointFile.kind("KILL"))
            generation += 1
        }
    }

    static func payload(generation: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 6 << 20)
        withUnsafeBytes(of: generation.littleEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
        for i in 8..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: Int(generation) &* 31 &+ i) }
        return bytes
    }

    @Test func killDuringWriteLeavesValidCheckpoint() throws {
        let dir = TempDir("ckkill")
        defer { dir.cleanup() }
        let path = dir.file("state.ckpt")
        try CheckpointFile.write(Self.payload(generation: 0), to: path, kind: CheckpointFile.kind("KILL"))
        var rng = SplitMix64(seed: 4)
        var generationsSeen = Set<UInt64>()
        for _ in 0..<6 {
            let proc = Process()
            proc.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            proc.arguments = ["--testing-library", "swift-testing", "--filter", "checkpointWriterChildRole"]
            proc.environment = [Self.envPath: path, "SWIFT_BACKTRACE": "enable=no"]
            proc.standardOutput = FileHandle.nullDevice
            proc.standardError = FileHandle.nullDevice
            try proc.run()
            usleep(UInt32.random(in: 200_000...1_200_000, using: &rng))
            kill(proc.processIdentifier, SIGKILL)
            proc.waitUntilExit()
            let c = try CheckpointFile.read(path, kind: CheckpointFile.kind("KILL"))
            let generation = c.payload.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            #expect(c.payload == Self.payload(generation: generation))
            generationsSeen.insert(generation)
        }
        // The child did replace the file at least once (the test exercised real writes).
        #expect(generationsSeen.contains { $0 > 0 }, "child never completed a write: \(generationsSeen)")
    }
}
