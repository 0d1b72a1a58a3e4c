#include <cstdio>
int main() {
  std::fprintf(stderr, "mailtapd: not wired up yet\n");
  return 1;
}
