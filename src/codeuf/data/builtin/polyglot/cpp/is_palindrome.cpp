#include <cctype>
#include <string>

bool is_palindrome(std::string s) {
    std::string kept;
    for (unsigned char ch : s) {
        if (std::isalnum(ch)) kept += static_cast<char>(std::tolower(ch));
    }
    for (size_t i = 0, j = kept.size(); i + 1 < j; i++, j--) {
        if (kept[i] != kept[j - 1]) return false;
    }
    return true;
}
