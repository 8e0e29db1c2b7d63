import Foundation
import Testing
import ZeroMQ

@testable import Cluster

/// A failed bind says why in words and creates no job.
@Suite struct CoordinatorBindErrorTests {
    @Test func aHostNameIsRefusedWithTheAddressesToUse() {
        let e = CoordinatorBindError(
            endpoint: "tcp://localhost:5555", error: ZMQError(code: .init(rawValue: ENODEV), operation: "zmq_bind"))
        #expect(e.description.hasPrefix("cannot bind tcp://localhost:5555: `localhost` is neither an IP address nor a network interface"))
        #expect(e.description.contains("use an IP address such as tcp://127.0.0.1:5555 (this host only) or tcp://0.0.0.0:5555"))
    }

    @Test func aPortInUseAndAForeignAddressAreNamed() {
        let used = CoordinatorBindError(endpoint: "tcp://0.0.0.0:5570", error: ZMQError(code: .addressInUse, operation: "zmq_bind"))
        #expect(used.reason.hasPrefix("port 5570 is already in use"))
        let foreign = CoordinatorBindError(
            endpoint: "tcp://10.9.9.9:5570", error: ZMQError(code: .addressNotAvailable, operation: "zmq_bind"))
        #expect(foreign.reason.hasPrefix("`10.9.9.9` is not an address of this host") && foreign.reason.contains("tcp://0.0.0.0:5570"))
        #expect(CoordinatorBindError.port(of: "tcp://[::1]:7") == "7")
        #expect(CoordinatorBindError.port(of: "ipc:///tmp/x") == nil)
    }

    /// End to end in one process: the bind is refused before any store exists.
    @Test func aFailedBindCreatesNoJobDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bind-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = CoordinatorJob.Options(
            dataPath: "/nonexistent.csv", bind: "tcp://localhost:1", jobDirectory: dir + "/job",
            forest: .init(), modelOut: dir + "/m.stm")
        options.givenFlags = []
        do {
            _ = try CoordinatorJob(options: options, context: try Context(), logger: .discarding)
            Issue.record("bound tcp://localhost:1")
        } catch let error as PipelineError {
            #expect(
                error.message.contains("--bind: cannot bind tcp://localhost:1") && error.message.hasSuffix("(no job was created)"),
                "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/job"), "the job directory it made is removed again")
    }
}
