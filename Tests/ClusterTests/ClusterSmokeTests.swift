import Testing
@testable import Cluster

@Suite struct ClusterSmokeTests {
    @Test func moduleLinks() {
        #expect(Bool(true))
    }
}
