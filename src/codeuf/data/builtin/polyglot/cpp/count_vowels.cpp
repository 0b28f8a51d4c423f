#include <cctype>
#include <string>

long count_vowels(std::string s) {
    long count = 0;
    for (unsigned char ch : s) {
        char lower = static_cast<char>(std::tolower(ch));
        if (std::string("aeiou").find(lower) != std::string::npos) count += 1;
    }
    return count;
}
