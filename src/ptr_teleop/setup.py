
from setuptools import find_packages, setup

PACKAGE = 'ptr_teleop'

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
    description=('Teleoperated demonstrations: keyboard or SpaceMouse teleop node and a bag '
                 'recorder (one MCAP bag per episode).'),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'teleop_node = ptr_teleop.teleop_node:main',
            'recorder_node = ptr_teleop.recorder_node:main',
        ],
    },
)
