import Foundation

@testable import SpaceTime

/// A seeded generator for property tests (the core's SplitMix64), so failures reproduce.
typealias SeededRandom = SplitMix64

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let path: String
    init(_ tag: String = "t") {
        path = NSTemporaryDirectory() + "spacetime-tests-\(tag)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ text: String) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }
    func write(_ name: String, bytes: [UInt8]) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Path of the built `spacetime` executable (next to the test bundle).
func spacetimeExecutable() -> String {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().appendingPathComponent("spacetime").path
}

/// Runs a process, returning exit status, stdout and stderr.
@discardableResult
func run(_ path: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    env["SWIFT_BACKTRACE"] = "enable=no"
    p.environment = env
    let out = Pipe()
    let errPath = NSTemporaryDirectory() + "spacetime-stderr-\(getpid())-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    p.standardOutput = out
    p.standardError = errHandle
    try p.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    try errHandle.close()
    let errData = FileManager.default.contents(atPath: errPath) ?? Data()
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}
