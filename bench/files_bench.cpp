// BM_file_read: reads a 4 MiB file (in the page cache) in 64 KiB chunks with
// async_file::read_into at explicit offsets; one item is one 64 KiB read. On io_uring each read
// is a native READ; on epoll, which cannot poll regular files, it runs on the loop's executor.
// Divided by BM_raw_file_read (bench/baselines/file_baseline.cpp), the same preads, blocking.
#include <vector>

#include <benchmark/benchmark.h>

#include <corio/events.hpp>
#include <corio/files.hpp>

#include "baselines/file_fixture.hpp"

namespace {

corio::task<void> read_file(benchmark::State& state, const std::string& path) {
    corio::async_file f = co_await corio::open_file(path);
    std::vector<char> buf(corio::bench::file_chunk);
    std::uint64_t bytes = 0, sum = 0;
    for (auto _ : state) {
        for (std::size_t off = 0; off < corio::bench::file_size; off += buf.size()) {
            const std::size_t n = co_await f.read_into(buf, off);
            bytes += n;
            sum += static_cast<unsigned char>(buf[n / 2]);
        }
    }
    co_await f.close();
    // The check the harness relies on: every read was full and saw the file's bytes.
    if (!corio::bench::file_read_ok(state, bytes, sum))
        state.SkipWithError("BM_file_read: short or wrong reads");
}

void BM_file_read(benchmark::State& state) {
    corio::bench::test_file file;
    corio::event_loop loop;
    loop.run_until_complete(read_file(state, file.path()));
    state.SetItemsProcessed(state.iterations() * corio::bench::file_chunks);
    state.SetBytesProcessed(state.iterations() * corio::bench::file_size);
}
BENCHMARK(BM_file_read)->UseRealTime();

}  // namespace
