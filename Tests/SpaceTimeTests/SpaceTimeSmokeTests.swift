import Testing
@testable import SpaceTime

@Suite struct SpaceTimeSmokeTests {
    @Test func moduleLinks() {
        #expect(Bool(true))
    }
}
