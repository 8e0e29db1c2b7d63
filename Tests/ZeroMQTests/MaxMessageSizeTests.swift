import Foundation
import TestSupport
import Testing

@testable import ZeroMQ

@Suite struct MaxMessageSizeTests {
    @Test func oversizedMessageDisconnectsTheSenderAndOthersAreStillServed() throws {
        let context = try Context()
        let router = try context.socket(.router)
        try router.set(.maxMessageSize, 1024)
        try router.set(.routerMandatory, true)
        let monitor = try router.monitor([.accepted, .disconnected])
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()

        let honest = try context.socket(.dealer)
        try honest.set(.routingID, bytes("honest"))
        try honest.connect(endpoint)
        let greedy = try context.socket(.dealer)
        try greedy.set(.routingID, bytes("greedy"))
        try greedy.connect(endpoint)

        // Both connected: a round trip with each.
        for dealer in [honest, greedy] {
            try dealer.send("hello")
            let hello = try #require(try router.receive(timeout: .seconds(10)))
            try router.send(Message(Array(hello[0]), bytes("welcome")))
            #expect(try dealer.receive(timeout: .seconds(10))?.string(at: 0) == "welcome")
        }

        try greedy.send([UInt8](repeating: 0xAB, count: 4096))
        let disconnected = try waitForEvent(monitor) { $0.kind == .disconnected }
        #expect(disconnected != nil, "the router did not drop the oversized sender")

        // The router keeps serving the other peer, and never delivers the big message.
        for round in 0..<3 {
            try honest.send("work \(round)")
            var message = Message()
            #expect(try router.receive(into: &message, timeout: .seconds(10)))
            #expect(message.string(at: 0) == "honest")
            #expect(message.string(at: 1) == "work \(round)")
            try router.send(Message(bytes("honest"), bytes("ok \(round)")))
            #expect(try honest.receive(timeout: .seconds(10))?.string(at: 0) == "ok \(round)")
        }
        #expect(try router.receive(timeout: .milliseconds(200)) == nil)
    }
}
