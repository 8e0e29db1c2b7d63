import Testing
@testable import ZeroMQ

@Suite struct ZeroMQSmokeTests {
    @Test func moduleLinks() {
        #expect(Bool(true))
    }
}
