import Foundation
import TestSupport
import Testing

@testable import ZeroMQ

/// A child `spacetime-zmq-peer echo` process exchanges 10,000 messages with us.
@Suite(.serialized) struct TwoProcessTests {
    /// The `spacetime-zmq-peer` test peer built next to this test bundle.
    static var peerBinary: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("spacetime-zmq-peer")
    }

    @Test func tenThousandMessagesWithAChildProcess() throws {
        let binary = Self.peerBinary
        try #require(
            FileManager.default.isExecutableFile(atPath: binary.path),
            "\(binary.path) not found: build all products first (swift build --build-tests)")
        let total = 10_000
        let window = 200

        let context = try Context()
        let router = try context.socket(.router)
        try router.set(.routerMandatory, true)
        try router.set(.maxMessageSize, 1 << 20)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()

        let child = Process()
        child.executableURL = binary
        child.arguments = ["echo", "--connect", endpoint, "--count", "\(total)", "--routing-id", "child-1"]
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        child.environment = environment
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        defer { if child.isRunning { child.terminate() } }

        var message = Message()
        #expect(try router.receive(into: &message, timeout: .seconds(30)), "no HELLO from the child")
        try #require(message.count == 2 && message.string(at: 1) == "HELLO")
        let peer = Array(message[0])
        #expect(peer == Array("child-1".utf8))

        var outgoing = Message()
        func sendRequest(_ n: Int) throws {
            outgoing.removeAll()
            outgoing.append(peer)
            withUnsafeBytes(of: UInt64(n).littleEndian) { outgoing.append($0) }
            outgoing.append("payload \(n)")
            try router.send(outgoing)
        }
        var sent = 0
        var echoed = 0
        while sent < min(window, total) {
            try sendRequest(sent)
            sent += 1
        }
        while echoed < total {
            guard try router.receive(into: &message, timeout: .seconds(20)) else {
                Issue.record("timed out after \(echoed) echoes")
                return
            }
            let n = message.withFrame(1) { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
            guard message.count == 3, n == echoed, message.string(at: 2) == "payload \(n)" else {
                Issue.record("echo \(echoed) is wrong: \(message)")
                return
            }
            echoed += 1
            if sent < total {
                try sendRequest(sent)
                sent += 1
            }
        }
        #expect(try router.receive(into: &message, timeout: .seconds(20)))
        #expect(message.string(at: 1) == "BYE")

        #expect(eventually(within: .seconds(20)) { !child.isRunning }, "the child did not exit")
        #expect(child.terminationReason == .exit)
        #expect(child.terminationStatus == 0)
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(printed.contains("DONE \(total)"))

        router.close()
        context.terminate()
    }

    /// A frozen peer (SIGSTOP: its TCP connection stays open but silent, like
    /// a host cut off) is dropped by ZMTP heartbeats.
    @Test func heartbeatsDropAFrozenPeer() throws {
        let binary = Self.peerBinary
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "\(binary.path) not found")
        let context = try Context()
        let router = try context.socket(.router)
        defer { router.close() }
        try router.set(.heartbeatInterval, 100)
        try router.set(.heartbeatTimeout, 400)
        let monitor = try router.monitor([.accepted, .disconnected])
        try router.bind("tcp://127.0.0.1:*")

        let child = Process()
        child.executableURL = binary
        child.arguments = ["echo", "--connect", try router.lastEndpoint(), "--count", "1", "--idle-timeout", "60"]
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        child.environment = environment
        child.standardOutput = FileHandle.nullDevice
        try child.run()
        defer {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }

        let hello = try #require(try router.receive(timeout: .seconds(30)), "no HELLO from the child")
        #expect(hello.string(at: 1) == "HELLO")
        #expect(try waitForEvent(monitor) { $0.kind == .accepted } != nil)
        // Still connected while the child answers PINGs.
        #expect(try waitForEvent(monitor, within: .seconds(1)) { $0.kind == .disconnected } == nil)

        kill(child.processIdentifier, SIGSTOP)
        let dropped = try waitForEvent(monitor, within: .seconds(15)) { $0.kind == .disconnected }
        #expect(dropped != nil, "the heartbeat did not drop the frozen peer")
    }
}
