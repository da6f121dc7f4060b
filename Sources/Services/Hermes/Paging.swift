import Generated
import GRPCCore

/// Offset paging whose tokens are bound to the filters that made them (`<filters>:<offset>`), so a
/// token from another list or other filters is INVALID_ARGUMENT.
struct Paging {
  var size: Int
  var offset: Int
  var filterKey: String

  init(_ request: Courier_Common_V1_PageRequest, filterKey: String) throws(RPCError) {
    let size = request.pageSize == 0 ? 50 : Int(request.pageSize)
    guard (1...500).contains(size) else {
      throw Validation.invalid("page.page_size", "must be 0 to 500, got \(request.pageSize)")
    }
    var offset = 0
    if !request.pageToken.isEmpty {
      let parts = request.pageToken.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
      guard parts.count >= 2, parts.dropLast().joined(separator: ":") == filterKey, let value = Int(parts.last!),
        value >= 0
      else {
        throw Validation.invalid("page.page_token", "was not produced by this list with these filters")
      }
      offset = value
    }
    self.size = size
    self.offset = offset
    self.filterKey = filterKey
  }

  func info(total: Int) -> Courier_Common_V1_PageInfo {
    var info = Courier_Common_V1_PageInfo()
    info.totalSize = Int64(total)
    if offset + size < total { info.nextPageToken = "\(filterKey):\(offset + size)" }
    return info
  }
}
