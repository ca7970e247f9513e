// Test double of HailoRT's compiled extension hailo_platform.pyhailort._pyhailort, built with the pybind11 HailoRT
// pins (2.10.1, hailort v4.23.0 hailort/cmake/external/pybind11.cmake) by build.py beside this file. Its NumPy
// layer is therefore the real binding's: pybind11 < 2.12 reads NumPy 1's dtype layout, so under NumPy 2 an array
// it builds from a dtype and a pointer repeats element 0, and the arrays it is handed have itemsize and nbytes 0
// (hailo-toolchain.md section 11). The same names as tests/support/doubles/hailo_platform/pyhailort/_pyhailort.py.
//
// From hailort v4.23.0: bindings/python/src/pyhailort.cpp (get_status_message,
// convert_nms_with_byte_mask_buffer_to_detections, DetectionWithByteMask.mask(), the module's check that
// libhailort loads), infer_model_api.cpp (an InferStream binding keeps MemoryView(buffer.mutable_data(),
// buffer.nbytes())), bindings_common / utils.hpp (HailoRTStatusException, args[0] the status as a string) and
// include/hailo/hailort.h (status codes; the packed hailo_detection_with_byte_mask_t).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace py = pybind11;

#pragma pack(push, 1)
struct hailo_rectangle_t { float y_min, x_min, y_max, x_max; };
struct hailo_detection_with_byte_mask_t {
    hailo_rectangle_t box;
    float score;
    uint16_t class_id;
    size_t mask_size;
    uint8_t *mask;
};
#pragma pack(pop)

class HailoRTStatusException : public std::exception {
public:
    explicit HailoRTStatusException(std::string status) : m_status(std::move(status)) {}
    const char *what() const noexcept override { return m_status.c_str(); }
private:
    std::string m_status;
};

static const std::map<uint32_t, std::string> STATUS = {
    {0, "HAILO_SUCCESS"}, {2, "HAILO_INVALID_ARGUMENT"}, {4, "HAILO_TIMEOUT"}, {6, "HAILO_INVALID_OPERATION"},
    {13, "HAILO_OPEN_FILE_FAILURE"}, {16, "HAILO_UNSUPPORTED_FW_VERSION"}, {26, "HAILO_INVALID_HEF"},
    {61, "HAILO_NOT_FOUND"}, {71, "HAILO_OUT_OF_FW_MEMORY"}, {74, "HAILO_OUT_OF_PHYSICAL_DEVICES"},
    {76, "HAILO_INVALID_DRIVER_VERSION"}, {91, "HAILO_HEF_FILE_CORRUPTED"}, {92, "HAILO_HEF_NOT_SUPPORTED"},
    {93, "HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE"},
};

std::string get_status_message(uint32_t status)
{
    auto found = STATUS.find(status);
    return found == STATUS.end() ? "" : found->second;
}

std::vector<hailo_detection_with_byte_mask_t> convert_nms_with_byte_mask_buffer_to_detections(py::array src_buffer)
{
    std::vector<hailo_detection_with_byte_mask_t> detections;
    uint8_t *src_ptr = static_cast<uint8_t *>(src_buffer.mutable_data());
    uint16_t count = *reinterpret_cast<uint16_t *>(src_ptr);
    size_t offset = sizeof(uint16_t);
    for (size_t i = 0; i < count; i++) {
        hailo_detection_with_byte_mask_t detection;
        std::memcpy(&detection, src_ptr + offset, sizeof(detection));
        detections.push_back(detection);
        offset += sizeof(hailo_detection_with_byte_mask_t) + detection.mask_size;
    }
    return detections;
}

// The view HailoRT reads an input from and writes an output to: a pointer and a byte count taken from the array.
class ConfiguredInferModelBindingsInferStreamWrapper {
public:
    void set_buffer(py::array buffer)
    {
        m_buffer = buffer;
        m_data = static_cast<uint8_t *>(buffer.mutable_data());
        m_size = static_cast<size_t>(buffer.nbytes());
    }
    size_t size() const { return m_size; }
    py::bytes read() const { return py::bytes(reinterpret_cast<const char *>(m_data), m_size); }
    void write(py::bytes data)
    {
        std::string bytes = data;
        std::memcpy(m_data, bytes.data(), std::min(bytes.size(), m_size));
    }
private:
    py::array m_buffer;
    uint8_t *m_data = nullptr;
    size_t m_size = 0;
};

// The real module links libhailort.so.<version>; the double, which links nothing, looks where ld.so would.
static void check_libhailort_loads()
{
    const std::string lib = HAILORT_LIB;
    std::vector<std::string> dirs;
    if (const char *path = std::getenv("LD_LIBRARY_PATH")) {
        std::stringstream paths(path);
        for (std::string dir; std::getline(paths, dir, ':');) {
            if (!dir.empty()) dirs.push_back(dir);
        }
    }
    for (const char *dir : {"/usr/local/lib", "/usr/lib", "/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"}) {
        dirs.push_back(dir);
    }
    struct stat found;
    for (const auto &dir : dirs) {
        if (stat((dir + "/" + lib).c_str(), &found) == 0) return;
    }
    throw py::import_error(lib + ": cannot open shared object file: No such file or directory");
}

PYBIND11_MODULE(_pyhailort, m) {
    check_libhailort_loads();
    py::register_exception<HailoRTStatusException>(m, "HailoRTStatusException");
    m.def("get_status_message", &get_status_message);
    m.def("convert_nms_with_byte_mask_buffer_to_detections", &convert_nms_with_byte_mask_buffer_to_detections);

    py::class_<hailo_detection_with_byte_mask_t>(m, "DetectionWithByteMask")
        .def_readonly("mask_size", &hailo_detection_with_byte_mask_t::mask_size)
        .def_readonly("score", &hailo_detection_with_byte_mask_t::score)
        .def_readonly("class_id", &hailo_detection_with_byte_mask_t::class_id)
        .def("mask", [](const hailo_detection_with_byte_mask_t &detection) -> py::array {
            auto shape = *py::array::ShapeContainer({detection.mask_size});
            return py::array(py::dtype("uint8"), shape, detection.mask);
        });

    py::class_<ConfiguredInferModelBindingsInferStreamWrapper>(m, "ConfiguredInferModelBindingsInferStreamWrapper")
        .def(py::init<>())
        .def("set_buffer", &ConfiguredInferModelBindingsInferStreamWrapper::set_buffer)
        .def("size", &ConfiguredInferModelBindingsInferStreamWrapper::size)
        .def("read", &ConfiguredInferModelBindingsInferStreamWrapper::read)
        .def("write", &ConfiguredInferModelBindingsInferStreamWrapper::write);
}
