import Foundation
import Testing

@testable import RelayPublishing

@Suite struct PublisherAccessTests {
    @Test func emptyRulesAllowEveryone() {
        #expect(PublisherAccess().allows(uid: 1234, gid: 1234, supplementaryGroups: []))
    }

    @Test func uidPrimaryOrSupplementaryGroupAllows() {
        let access = PublisherAccess(allowedUIDs: [1000], allowedGIDs: [33])
        #expect(access.allows(uid: 1000, gid: 1000, supplementaryGroups: []))
        #expect(access.allows(uid: 2000, gid: 33, supplementaryGroups: []))
        #expect(access.allows(uid: 2000, gid: 2000, supplementaryGroups: [4, 33]))
        #expect(!access.allows(uid: 2000, gid: 2000, supplementaryGroups: [4, 27]))
    }

    static let status = "Name:\tpython3\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\nGroups:\t4 27 33 \n"

    @Test func supplementaryGroupsFromProcStatus() {
        #expect(PublisherAccess.supplementaryGroups(status: Self.status, uid: 1000, gid: 100) == [4, 27, 33])
    }

    /// A pid reused by another user's process between connect and the read lends nothing.
    @Test func mismatchedIdentityLendsNoGroups() {
        #expect(PublisherAccess.supplementaryGroups(status: Self.status, uid: 1001, gid: 100) == [])
        #expect(PublisherAccess.supplementaryGroups(status: Self.status, uid: 1000, gid: 101) == [])
        #expect(PublisherAccess.supplementaryGroups(status: "garbage", uid: 1000, gid: 100) == [])
    }

    @Test func ownProcessGroupsAreRead() {
        let groups = PublisherAccess.supplementaryGroups(pid: getpid(), uid: getuid(), gid: getgid())
        var expected = [gid_t](repeating: 0, count: 256)
        let count = getgroups(256, &expected)
        #expect(Set(groups) == Set(expected.prefix(Int(max(0, count)))))
    }
}
