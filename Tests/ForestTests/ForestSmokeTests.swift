import Testing
@testable import Forest

@Suite struct ForestSmokeTests {
    @Test func moduleLinks() {
        #expect(Bool(true))
    }
}
