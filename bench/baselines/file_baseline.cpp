// BM_raw_file_read: the floor for BM_file_read. The same 64 KiB preads of the same 4 MiB file,
// blocking, on the benchmark's thread: no loop, no ring, no executor.
#include <vector>

#include "file_fixture.hpp"

namespace {

void BM_raw_file_read(benchmark::State& state) {
    corio::bench::test_file file;
    const int fd = ::open(file.path().c_str(), O_RDONLY | O_CLOEXEC);
    std::vector<char> buf(corio::bench::file_chunk);
    std::uint64_t bytes = 0, sum = 0;
    for (auto _ : state) {
        for (std::size_t off = 0; off < corio::bench::file_size; off += buf.size()) {
            const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
            if (n <= 0)
                break;
            bytes += static_cast<std::uint64_t>(n);
            sum += static_cast<unsigned char>(buf[static_cast<std::size_t>(n) / 2]);
        }
    }
    ::close(fd);
    if (!corio::bench::file_read_ok(state, bytes, sum))
        state.SkipWithError("BM_raw_file_read: short or wrong reads");
    state.SetItemsProcessed(state.iterations() * corio::bench::file_chunks);
    state.SetBytesProcessed(state.iterations() * corio::bench::file_size);
}
BENCHMARK(BM_raw_file_read)->UseRealTime();

}  // namespace
