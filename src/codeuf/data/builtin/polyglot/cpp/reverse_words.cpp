#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

std::string reverse_words(std::string s) {
    std::vector<std::string> words;
    std::istringstream in(s);
    std::string word;
    while (in >> word) words.push_back(word);
    std::reverse(words.begin(), words.end());
    std::string out;
    for (size_t i = 0; i < words.size(); i++) {
        if (i > 0) out += " ";
        out += words[i];
    }
    return out;
}
