from setuptools import find_packages, setup

PACKAGE = 'ptr_arm'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    include_package_data=True,
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
    ],
    install_requires=['setuptools'],
    extras_require={'test': ['pytest']},  # colcon test runs pytest (ament_python)
    zip_safe=False,
    maintainer='ptr-ros developers',
    maintainer_email='dev@ptr-ros.org',
    description='The real WidowX 250 bridge (over the Interbotix API) and the camera node.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'arm_bridge = ptr_arm.arm_bridge:main',
            'camera_node = ptr_arm.camera_node:main',
        ],
    },
)
