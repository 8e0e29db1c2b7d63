import ArgumentParser
import Cluster
import Foundation
import SpaceTime
import ZeroMQ

/// The ZeroMQ test peer, a tool of its own (not shipped in `spacetime`): the
/// two-process transport test, the transport benchmark
/// (`scripts/bench-transport`) and the multi-host test's plain and hostile peers.
@main
struct ZMQPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spacetime-zmq-peer",
        abstract: "ZeroMQ test peer: echo messages, measure throughput, or send hostile input to a coordinator.",
        discussion: """
            Used by the ZeroMQ tests, scripts/bench-transport and cluster/netns/multihost-test.sh. \
            Every line on standard output is flushed at once so a parent reading a pipe sees it.
            """,
        subcommands: [Echo.self, ThroughputReceive.self, ThroughputSend.self, Hostile.self]
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
            let zeroCopy = self.zeroCopy
            let size = self.size
            let count = self.count
            var message = Message()
            var frames = 0
            var bytes = 0
            func receiveOne(_ index: Int) throws {
                if zeroCopy {
                    frames = 0
                    bytes = 0
                    try pull.receive { frame, _ in
                        frames += 1
                        bytes += frame.count
                    }
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
            let seconds = elapsed.seconds
            let rate = Double(count - 1) / seconds
            emit(
                "RESULT impl=\(zeroCopy ? "swift-zero-copy" : "swift") "
                    + String(
                        format: "size=%ld count=%ld seconds=%.4f msgs_per_s=%.0f mib_per_s=%.1f",
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

extension ZMQPeerCommand {
    /// A hostile peer of a coordinator: sends, one case after another, what a
    /// coordinator must drop and log while its job goes on. Prints
    /// `SENT <case>: …` per case (and `GOT …` for replies) so a test can match
    /// each case with the coordinator's log.
    struct Hostile: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a coordinator raw bytes, a plain client, and (with CURVE keys) truncated, oversized and out-of-order messages.",
            discussion: """
                Cases: raw (random bytes over TCP, no ZMTP), plain (a NULL-mechanism DEALER), then on an \
                authenticated DEALER: truncated (a header frame cut short), frames (three frames), \
                oversized (a 2 MiB header frame), absurd (a checkpoint declaring 8 GiB of trees with a \
                16-byte payload; a blob request for 4 GiB per chunk), out-of-order (a hello announcing 1 MiB of \
                memory, which is rejected, then a checkpoint and a row credit for attempts it does not hold).
                """)

        @Option(help: "Coordinator endpoint, tcp://IPv4:PORT.")
        var connect: String

        @Option(name: .customLong("curve-secret"), help: "CURVE secret key file for the authenticated cases (an allow-listed key).")
        var curveSecret: String?

        @Option(name: .customLong("coordinator-key"), help: "The coordinator's CURVE public key file.")
        var coordinatorKey: String?

        @Option(help: "Seed for the random bytes.")
        var seed: UInt64 = 1

        @Option(help: "Seconds to wait between cases.")
        var pause: Double = 0.3

        func validate() throws {
            guard pause >= 0 && pause <= 60 else { throw ValidationError("--pause must be in [0, 60] seconds") }
            guard (curveSecret == nil) == (coordinatorKey == nil) else {
                throw ValidationError("--curve-secret and --coordinator-key go together")
            }
            _ = try hostAndPort()
        }

        private func hostAndPort() throws -> (String, UInt16) {
            guard connect.hasPrefix("tcp://"), let colon = connect.lastIndex(of: ":"),
                let port = UInt16(connect[connect.index(after: colon)...])
            else {
                throw ValidationError("--connect must be tcp://IPv4:PORT, got '\(connect)'")
            }
            return (String(connect[connect.index(connect.startIndex, offsetBy: 6)..<colon]), port)
        }

        func run() throws {
            let (host, port) = try hostAndPort()
            var rng = SplitMix64(seed: seed)
            // raw: wait before writing so the coordinator reads the address before libzmq drops the connection
            let garbage = (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let from = try sendRaw(host: host, port: port, bytes: garbage, after: 0.3)
            emit("SENT raw: 4096 random bytes over TCP from \(from)")
            Thread.sleep(forTimeInterval: pause)

            let context = try Context()
            let plain = try context.socket(.dealer)
            try plain.set(.linger, 0)
            try plain.connect(connect)
            try plain.send("hello?")
            Thread.sleep(forTimeInterval: 0.5)
            plain.close()
            emit("SENT plain: a NULL-mechanism (non-CURVE) DEALER")
            Thread.sleep(forTimeInterval: pause)

            guard let curveSecret, let coordinatorKey else {
                emit("SKIP authenticated cases: no --curve-secret")
                return
            }
            let dealer = try context.socket(.dealer)
            defer { dealer.close() }
            try dealer.set(.linger, 1000)
            try dealer.configureCurveClient(
                keyPair: try CurveKeyFiles.loadKeyPair(secretKeyAt: curveSecret),
                serverKey: try CurveKeyFiles.loadPublicKey(at: coordinatorKey))
            try dealer.connect(connect)
            func sendFrames(_ frames: [Data]) throws {
                try dealer.send(Message(frames: frames.map { Array($0) }))
                Thread.sleep(forTimeInterval: pause)
            }

            var hello = WireHello()
            hello.protocolVersion = ProtocolVersion.current
            hello.workerID = "hostile-\(from.prefix { $0 != ":" })"
            hello.host = ProcessInfo.processInfo.hostName
            hello.pid = UInt32(ProcessInfo.processInfo.processIdentifier)
            hello.cores = 1
            hello.memoryLimitBytes = 1 << 20
            let helloFrames = try WireMessage(.hello(hello)).encodeFrames()
            try sendFrames([helloFrames[0].prefix(helloFrames[0].count - 3)])
            emit("SENT truncated: a hello header frame cut 3 bytes short")
            try sendFrames([Data("a".utf8), Data("b".utf8), Data("c".utf8)])
            emit("SENT frames: a message of three frames")
            try sendFrames([Data(repeating: 0x0A, count: 2 << 20)])
            emit("SENT oversized: a 2 MiB header frame")

            var trees = WireCheckpoint.Trees()
            trees.firstTree = 0
            trees.treeLengths = [UInt32.max, UInt32.max]
            var checkpoint = WireCheckpoint()
            checkpoint.taskID = 1
            checkpoint.attemptID = 987_654_321
            checkpoint.trees = trees
            try sendFrames(try WireMessage(.checkpoint(checkpoint), payload: Data(count: 16)).encodeFrames())
            emit("SENT absurd: a checkpoint declaring two trees of 4 GiB with a 16-byte payload")
            var blob = WireBlobRequest()
            blob.digest = Data(repeating: 0xAB, count: 32)
            blob.maxBytes = UInt32.max
            try sendFrames(try WireMessage(.blobRequest(blob)).encodeFrames())
            emit("SENT absurd: a blob request for 4 GiB chunks")

            try sendFrames(helloFrames)
            emit("SENT out-of-order: hello announcing a 1 MiB memory limit")
            var reply = Message()
            if try dealer.receive(into: &reply, timeout: .seconds(20)),  // a busy coordinator may take a while
                let message = try? WireMessage.decode(frames: reply.map { Data($0) }, direction: .toWorker),
                case .reject(let r) = message.body
            {
                emit("GOT reject: \(r.message)")
            }
            var valid = WireCheckpoint.Trees()
            valid.firstTree = 0
            valid.treeLengths = [4]
            checkpoint.trees = valid
            try sendFrames(try WireMessage(.checkpoint(checkpoint), payload: Data([1, 2, 3, 4]), seq: 7, session: 42).encodeFrames())
            emit("SENT out-of-order: a checkpoint for attempt 987654321, which it does not hold, without a session")
            var credit = WireCredit()
            credit.attemptID = 987_654_322
            credit.stream = .rows
            credit.grantedBatches = 1_000_000
            credit.grantedBytes = UInt64.max
            try sendFrames(try WireMessage(.credit(credit), seq: 3, session: 42).encodeFrames())
            emit("SENT out-of-order: a row credit for attempt 987654322, which it does not hold, without a session")
            emit("DONE hostile")
        }

        /// Connects a TCP socket, waits `delay` s, writes `bytes`, waits, closes; returns the local `IP:port`.
        private func sendRaw(host: String, port: UInt16, bytes: [UInt8], after delay: Double) throws -> String {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ValidationError("socket: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw ValidationError("not an IPv4 address: \(host)") }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard rc == 0 else { throw ValidationError("connect to \(host):\(port): \(String(cString: strerror(errno)))") }
            var local = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN) + 1)
            inet_ntop(AF_INET, &local.sin_addr, &text, socklen_t(text.count))
            Thread.sleep(forTimeInterval: delay)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            Thread.sleep(forTimeInterval: 0.3)
            return "\(String(cString: text)):\(UInt16(bigEndian: local.sin_port))"
        }
    }
}
