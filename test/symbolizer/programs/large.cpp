// Benchmark input: a C++ program with much template code (regex, streams, containers, algorithms over
// many element types) so its debug info is large, as in real services.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

template <typename T> struct Stats {
  std::vector<T> values;
  std::map<T, int> histogram;
  std::unordered_map<std::string, T> named;
  void add(const T &v) {
    values.push_back(v);
    ++histogram[v];
    std::ostringstream key;
    key << "k" << values.size();
    named.emplace(key.str(), v);
  }
  T median() {
    std::sort(values.begin(), values.end());
    return values.empty() ? T{} : values[values.size() / 2];
  }
  std::string describe() const {
    std::ostringstream out;
    for (const auto &[k, n] : histogram) out << k << ":" << n << " ";
    return out.str();
  }
};

template <typename T> std::string run(int n) {
  Stats<T> stats;
  std::deque<T> window;
  std::list<T> history;
  std::set<T> unique;
  for (int i = 0; i < n; i++) {
    T v = static_cast<T>((i * 7919) % 97);
    stats.add(v);
    window.push_back(v);
    if (window.size() > 8) window.pop_front();
    history.push_front(v);
    unique.insert(v);
  }
  std::vector<T> copy(history.begin(), history.end());
  std::stable_sort(copy.begin(), copy.end(), std::greater<T>());
  auto sum = std::accumulate(copy.begin(), copy.end(), T{});
  std::ostringstream out;
  out << stats.median() << " " << sum << " " << unique.size() << " " << stats.describe().size();
  return out.str();
}

#define RUN_ALL(X) X(char) X(short) X(int) X(long) X(long long) X(unsigned) X(unsigned long) X(float) X(double) X(long double)

std::vector<std::string> matches(const std::string &text, const std::string &pattern) {
  std::vector<std::string> out;
  std::regex re(pattern, std::regex::ECMAScript | std::regex::icase);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) out.push_back(it->str());
  std::wregex wide(L"[a-z]+");
  std::wstring wtext(text.begin(), text.end());
  out.push_back(std::to_string(std::distance(std::wsregex_iterator(wtext.begin(), wtext.end(), wide), std::wsregex_iterator())));
  return out;
}

using Value = std::variant<int, double, std::string, std::vector<int>>;

std::string show(const Value &v) {
  return std::visit(
      [](const auto &x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) return x;
        else if constexpr (std::is_same_v<T, std::vector<int>>) return std::to_string(x.size());
        else return std::to_string(x);
      },
      v);
}

int main(int argc, char **argv) {
  std::vector<std::string> results;
#define RUN_ONE(T) results.push_back(run<T>(argc * 100));
  RUN_ALL(RUN_ONE)
  std::mutex lock;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      auto found = matches("The quick brown fox jumps over the lazy dog " + std::to_string(t), "[a-z]+o[a-z]*");
      std::lock_guard<std::mutex> guard(lock);
      results.insert(results.end(), found.begin(), found.end());
    });
  }
  for (auto &t : threads) t.join();
  std::vector<Value> values{1, 2.5, std::string("x"), std::vector<int>{1, 2}};
  for (const auto &v : values) results.push_back(show(v));
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(argc > 1 ? argv[1] : ".", ec)) results.push_back(entry.path().filename().string());
  auto started = std::chrono::steady_clock::now();
  std::sort(results.begin(), results.end());
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  std::printf("%zu results in %lld us\n", results.size(), static_cast<long long>(took.count()));
  return 0;
}
