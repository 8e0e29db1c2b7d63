import ArgumentParser
import Foundation
import ZeroMQ

/// Hidden diagnostic peer for the two-process transport test and the
/// transport benchmark (`scripts/bench-transport`).
struct ZMQPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zmq-peer",
        abstract: "ZeroMQ diagnostic peer: echo messages or measure throughput.",
        discussion: """
            Used by the ZeroMQ tests and scripts/bench-transport. Every line on \
            standard output is flushed at once so a parent reading a pipe sees it.
            """,
        shouldDisplay: false,
        subcommands: [Echo.self, ThroughputReceive.self, ThroughputSend.self]
    )
}

/// Largest benchmark message (the sender allocates one buffer of this size).
private let maxBenchmarkMessageBytes = 1 << 30

/// Writes one line to standard output and flushes it.
private func emit(_ line: String) {
    print(line)
    fflush(nil)
}

extension ZMQPeerCommand {
    /// Connects a DEALER, greets the ROUTER, echoes every message back.
    struct Echo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect a DEALER to a ROUTER, send HELLO, echo N messages back, send BYE, exit.")

        @Option(help: "ROUTER endpoint to connect to, e.g. tcp://127.0.0.1:5555.")
        var connect: String

        @Option(help: "Messages to echo before exiting.")
        var count: Int = 10_000

        @Option(help: "Routing id this DEALER presents.")
        var routingID: String = "zmq-peer"

        @Option(help: "Seconds without any message before giving up (exit code 1).")
        var idleTimeout: Double = 20

        func validate() throws {
            guard count >= 0 else { throw ValidationError("--count must be >= 0, got \(count)") }
            guard idleTimeout > 0 && idleTimeout <= 86_400 else {
                throw ValidationError("--idle-timeout must be in (0, 86400] seconds, got \(idleTimeout)")
            }
        }

        func run() throws {
            let context = try Context()
            let dealer = try context.socket(.dealer)
            defer { dealer.close() }
            try dealer.set(.routingID, Array(routingID.utf8))
            try dealer.set(.linger, 5000)
            try dealer.connect(connect)
            try dealer.send("HELLO")
            emit("READY \(routingID)")
            var message = Message()
            var echoed = 0
            while echoed < count {
                guard try dealer.receive(into: &message, timeout: .milliseconds(Int64(idleTimeout * 1000))) else {
                    throw ValidationError("no message from \(connect) for \(idleTimeout) s after \(echoed) of \(count) echoes")
                }
                try dealer.send(message)
                echoed += 1
            }
            try dealer.send("BYE")
            emit("DONE \(echoed)")
        }
    }

    /// Receiving half of the throughput benchmark (PULL, binds).
    struct ThroughputReceive: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "thr-recv",
            abstract: "Bind a PULL socket, print ENDPOINT, receive N messages, print RESULT.")

        @Option(help: "Endpoint to bind; a wildcard port is resolved and printed.")
        var bind: String = "tcp://127.0.0.1:*"

        @Option(help: "Messages to receive.")
        var count: Int = 1_000_000

        @Option(help: "Expected message size in bytes.")
        var size: Int = 16

        @Option(help: "Receive high-water mark in messages (libzmq's default is 1000).")
        var hwm: Int32 = 1000

        @Flag(help: "Read frames in place (receive(visitingFrames:)) instead of copying into a reused Message.")
        var zeroCopy = false

        func validate() throws {
            guard count >= 2 else { throw ValidationError("--count must be >= 2") }
            guard size >= 0 && size <= maxBenchmarkMessageBytes else {
                throw ValidationError("--size must be between 0 and \(maxBenchmarkMessageBytes) bytes, got \(size)")
            }
        }

        func run() throws {
            let context = try Context()
            let pull = try context.socket(.pull)
            defer { pull.close() }
            try pull.set(.receiveHighWaterMark, hwm)
            try pull.bind(bind)
            emit("ENDPOINT \(try pull.lastEndpoint())")
            // Property-wrapper reads are slow (generic metadata look-ups): copy options out of the hot loop.
            let zeroCopy = self.zeroCopy, size = self.size, count = self.count
            var message = Message()
            var frames = 0
            var bytes = 0
            func receiveOne(_ index: Int) throws {
                if zeroCopy {
                    frames = 0
                    bytes = 0
                    try pull.receive { frame, _ in frames += 1; bytes += frame.count }
                } else {
                    try pull.receive(into: &message)
                    frames = message.count
                    bytes = message.byteCount
                }
                guard frames == 1, bytes == size else {
                    throw ValidationError("message \(index): expected one \(size)-byte frame, got \(frames) frames, \(bytes) bytes")
                }
            }
            try receiveOne(0)
            let clock = ContinuousClock()
            let start = clock.now
            for index in 1..<count { try receiveOne(index) }
            let elapsed = start.duration(to: clock.now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            let rate = Double(count - 1) / seconds
            emit("RESULT impl=\(zeroCopy ? "swift-zero-copy" : "swift") " + String(format: "size=%ld count=%ld seconds=%.4f msgs_per_s=%.0f mib_per_s=%.1f",
                        size, count, seconds, rate, rate * Double(size) / 1_048_576))
        }
    }

    /// Sending half of the throughput benchmark (PUSH, connects).
    struct ThroughputSend: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "thr-send",
            abstract: "Connect a PUSH socket and send N messages of a given size as fast as possible.")

        @Option(help: "Endpoint to connect to.")
        var connect: String

        @Option(help: "Messages to send.")
        var count: Int = 1_000_000

        @Option(help: "Message size in bytes.")
        var size: Int = 16

        @Option(help: "Send high-water mark in messages (libzmq's default is 1000).")
        var hwm: Int32 = 1000

        func validate() throws {
            guard count >= 1 else { throw ValidationError("--count must be >= 1") }
            guard size >= 0 && size <= maxBenchmarkMessageBytes else {
                throw ValidationError("--size must be between 0 and \(maxBenchmarkMessageBytes) bytes, got \(size)")
            }
        }

        func run() throws {
            let context = try Context()
            let push = try context.socket(.push)
            defer { push.close() }
            try push.set(.sendHighWaterMark, hwm)
            try push.set(.linger, -1)  // deliver everything before exiting
            try push.connect(connect)
            let count = self.count
            let payload = [UInt8](repeating: 0x5A, count: size)
            try payload.withUnsafeBytes { buffer in
                for _ in 0..<count { try push.send(buffer) }
            }
        }
    }
}
