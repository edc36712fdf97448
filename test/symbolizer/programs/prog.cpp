// Test input for the symbolizer: templates, lambdas, the standard library, heavy inlining.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace shapes {
struct Shape {
  virtual ~Shape() = default;
  virtual double area() const = 0;
  virtual std::string name() const = 0;
};

template <typename T> struct Square : Shape {
  T side;
  explicit Square(T s) : side(s) {}
  double area() const override { return static_cast<double>(side) * side; }
  std::string name() const override { return "square"; }
};

template <typename T> struct Circle : Shape {
  T radius;
  explicit Circle(T r) : radius(r) {}
  double area() const override { return 3.14159 * radius * radius; }
  std::string name() const override { return "circle"; }
};
}  // namespace shapes

template <typename Container, typename F> auto transform_all(const Container &in, F f) {
  std::vector<decltype(f(*in.begin()))> out;
  out.reserve(in.size());
  for (const auto &v : in) out.push_back(f(v));
  return out;
}

template <int N> struct Unroll {
  template <typename F> static inline int apply(F f, int x) { return Unroll<N - 1>::apply(f, f(x)); }
};
template <> struct Unroll<0> {
  template <typename F> static inline int apply(F, int x) { return x; }
};

class WordCounter {
 public:
  void add(const std::string &text) {
    std::istringstream in(text);
    std::string word;
    while (in >> word) ++counts_[normalize(word)];
  }
  std::vector<std::pair<std::string, int>> top(size_t n) const {
    std::vector<std::pair<std::string, int>> all(counts_.begin(), counts_.end());
    std::sort(all.begin(), all.end(), [](const auto &a, const auto &b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (all.size() > n) all.resize(n);
    return all;
  }

 private:
  static std::string normalize(std::string w) {
    std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return std::tolower(c); });
    return w;
  }
  std::unordered_map<std::string, int> counts_;
};

__attribute__((noinline)) int run_unrolled(int seed) {
  return Unroll<12>::apply([](int v) { return v * 3 + 1; }, seed);
}

int main(int argc, char **argv) {
  std::vector<std::unique_ptr<shapes::Shape>> items;
  for (int i = 0; i < 100; i++) {
    if (i % 2) items.push_back(std::make_unique<shapes::Square<int>>(i));
    else items.push_back(std::make_unique<shapes::Circle<double>>(i * 0.5));
  }
  auto areas = transform_all(items, [](const auto &s) { return s->area(); });
  std::sort(areas.begin(), areas.end());
  std::map<std::string, double> byName;
  for (const auto &s : items) byName[s->name()] += s->area();
  WordCounter counter;
  counter.add("the quick brown fox jumps over the lazy dog The Dog barks");
  for (int i = 1; i < argc; i++) counter.add(argv[i]);
  std::function<long(int)> fact = [&](int n) -> long { return n <= 1 ? 1 : n * fact(n - 1); };
  double total = std::accumulate(areas.begin(), areas.end(), 0.0);
  std::printf("%f %zu %d %ld\n", total, byName.size(), run_unrolled(argc), fact(10));
  for (const auto &[word, count] : counter.top(3)) std::printf("%s %d\n", word.c_str(), count);
  return 0;
}
