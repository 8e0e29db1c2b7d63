import Cluster
import Foundation
import SpaceTime

/// Helpers for the end-to-end tests: the built `spacetime` binary, child
/// processes with their output in files, generated data, job store reads.
public enum E2E {
    /// `spacetime` next to the test bundle (both are in the build directory).
    public static var binary: String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("spacetime").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let cwd = FileManager.default.currentDirectoryPath
        return cwd + "/.build/debug/spacetime"
    }

    public static func tempDir(_ name: String) throws -> String {
        let dir =
            NSTemporaryDirectory() + "st-e2e-\(name)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A running child with stdout / stderr going to files.
    /// Sets `process` up to run the built `spacetime` with `arguments` in `dir`, backtraces
    /// off (tests kill children on purpose), `environment` added to this process's.
    public static func configure(_ process: Process, _ arguments: [String], in dir: String, environment: [String: String]) {
        process.executableURL = URL(fileURLWithPath: E2E.binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        for (k, v) in environment { env[k] = v }
        process.environment = env
    }

    public final class Child: @unchecked Sendable {
        public let process = Process()
        public let out: String
        public let err: String

        public init(_ arguments: [String], in dir: String, name: String, environment: [String: String] = [:]) throws {
            out = dir + "/\(name).out"
            err = dir + "/\(name).err"
            FileManager.default.createFile(atPath: out, contents: nil)
            FileManager.default.createFile(atPath: err, contents: nil)
            E2E.configure(process, arguments, in: dir, environment: environment)
            process.standardOutput = FileHandle(forWritingAtPath: out)
            process.standardError = FileHandle(forWritingAtPath: err)
            try process.run()
        }

        public var pid: Int32 { process.processIdentifier }
        public var stdout: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        public var stderr: String { (try? String(contentsOfFile: err, encoding: .utf8)) ?? "" }

        /// Waits up to `timeout` seconds; kills it (and returns nil) past that.
        public func wait(_ timeout: Double) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return nil
            }
            return process.terminationStatus
        }
    }

    /// Runs `spacetime arguments` to completion (at most `timeout` s).
    @discardableResult
    public static func run(
        _ arguments: [String], in dir: String, name: String, timeout: Double = 120,
        environment: [String: String] = [:]
    ) throws -> (status: Int32?, child: Child) {
        let child = try Child(arguments, in: dir, name: name, environment: environment)
        return (child.wait(timeout), child)
    }

    /// Runs `spacetime arguments` to completion in this process's directory; returns its exit
    /// status, standard output and standard error (stderr goes through a file, so a chatty
    /// child cannot block on a full pipe).
    @discardableResult
    public static func capture(_ arguments: [String], environment: [String: String] = [:]) throws -> (
        status: Int32, out: String, err: String
    ) {
        let process = Process()
        configure(process, arguments, in: FileManager.default.currentDirectoryPath, environment: environment)
        let out = Pipe()
        let errPath = NSTemporaryDirectory() + "spacetime-stderr-\(getpid())-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = errHandle
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try errHandle.close()
        let errData = FileManager.default.contents(atPath: errPath) ?? Data()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// A port the coordinator can bind now and again after a restart. It is
    /// chosen below the kernel's ephemeral range (32768 and up here), so neither
    /// another test's `tcp://127.0.0.1:*` socket nor a reconnecting worker's
    /// source port can take it in the meantime.
    public static func freePort() throws -> Int {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<32_000, using: &generator)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            if bound { return port }
        }
        throw PipelineError(.io, "cannot find a free port in 20000..<32000")
    }

    /// A small generated data set (`spacetime generate`).
    public static func generate(
        rows: Int, features: Int = 10, classSep: Double = 1.0, seed: Int = 3, in dir: String, name: String = "data.csv"
    )
        throws -> String
    {
        let (status, child) = try run(
            [
                "generate", "--rows", "\(rows)", "--features", "\(features)", "--informative", "5",
                "--redundant", "2", "--class-sep", "\(classSep)", "--seed", "\(seed)", "--out", name
            ],
            in: dir, name: "generate")
        guard status == 0 else { throw PipelineError(.io, "generate failed: \(child.stderr)") }
        return dir + "/" + name
    }

    public static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return (try JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    /// Polls `condition` every 20 ms for up to `timeout` s.
    public static func waitUntil(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return try condition()
    }

    /// Opens the job store once it exists (readers do not disturb the coordinator: WAL).
    public static func openStore(_ jobDir: String, timeout: Double = 30) throws -> JobStore? {
        let path = jobDir + "/job.sqlite"
        guard waitUntil(timeout, { FileManager.default.fileExists(atPath: path) }) else { return nil }
        var store: JobStore?
        _ = waitUntil(timeout) {
            store = try? JobStore(path: path)
            return (try? store?.jobSpec()) != nil
        }
        return store
    }

    /// The single-process reference run's fingerprint and accuracy.
    public static func singleProcess(_ data: String, in dir: String, flags: [String]) throws -> (fingerprint: String, accuracy: Double) {
        let (status, child) = try run(
            ["train", data, "--model-out", "single.stm", "--report-json", "single.json", "--threads", "1"] + flags,
            in: dir, name: "train")
        guard status == 0 else { throw PipelineError(.io, "train failed: \(child.stderr)") }
        let report = try json(dir + "/single.json")
        return (report["fingerprint"] as? String ?? "", report["accuracy"] as? Double ?? -1)
    }
}
