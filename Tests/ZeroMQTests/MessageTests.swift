import Testing

@testable import ZeroMQ

/// `Message` is pure logic: no sockets needed.
@Suite struct MessageTests {
    @Test func framesAreStoredBackToBackAndReadWithoutCopying() {
        var message = Message(bytes("id"), [], bytes("body"))
        #expect(message.count == 3)
        #expect(message.byteCount == 6)
        #expect(Array(message[0]) == bytes("id"))
        #expect(message[1].isEmpty)
        #expect(message.string(at: 2) == "body")
        #expect(Array(message.bytes) == bytes("idbody"))
        #expect(message.withFrame(2) { $0.count } == 4)
        message.append("tail")
        #expect(message.map { $0.count } == [2, 0, 4, 4])
    }

    @Test func reuseKeepsTheBufferAndEqualityIgnoresSpareCapacity() {
        var reused = Message([UInt8](repeating: 9, count: 1000), bytes("x"))
        let capacity = reused.capacity
        reused.removeAll()
        #expect(reused.isEmpty && reused.byteCount == 0)
        reused.append(bytes("a"))
        reused.append(bytes("bc"))
        #expect(reused.capacity == capacity)

        let fresh = Message(bytes("a"), bytes("bc"))
        #expect(reused == fresh)
        #expect(reused.hashValue == fresh.hashValue)
        #expect(reused != Message(bytes("ab"), bytes("c")), "same bytes, different framing")
        #expect(Set([reused, fresh]).count == 1)
    }

    @Test func copiesAreIndependentValues() {
        var original = Message(strings: ["one", "two"])
        let copy = original
        original.removeAll()
        original.append("three")
        #expect(copy.count == 2 && copy.string(at: 1) == "two")
        #expect(original.count == 1 && original.string(at: 0) == "three")
    }
}
